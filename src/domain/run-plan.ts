/**
 * How a new run starts, pure: its tasks (roots ready, their inputs resolved against the run
 * input) and its first events. Shared by startRun and by a `workflow` step starting a child run
 * inside a transition (src/domain/child-runs.ts).
 */
import { LimitExceededError } from './errors';
import type { Json, WorkflowDefinition } from './glossary';
import type { RunEvent } from './model';
import { checkExpansion, resolveTemplates, type ExpansionLimits } from './templates';

/** An event before the store numbers it: the run's history entry without its seq, run and time. */
export type EventDraft = Pick<RunEvent, 'type' | 'status' | 'taskId' | 'taskKey' | 'attempt' | 'data'>;

/** A task a new run starts with, before it has an id. */
export interface InitialTask {
  key: string;
  type: string;
  queue: string | null;
  status: 'PENDING' | 'QUEUED';
  input: Json;
}

/**
 * Root steps start QUEUED with their input resolved against the run input; the rest wait.
 *
 * @throws TemplateError when a root's template cannot be resolved.
 * @throws LimitExceededError (naming the step) when a root's input would expand past the limits,
 *   or a later step's certainly will: its templates that read the run input alone already do.
 */
export function planRun(definition: WorkflowDefinition, runInput: Json, limits?: ExpansionLimits): InitialTask[] {
  return definition.steps.map((step) => {
    const root = step.dependsOn.length === 0;
    if (!root) withStep(step.key, () => checkExpansion(step.input, runInput, limits));
    return {
      key: step.key,
      type: step.type,
      queue: step.queue,
      status: root ? 'QUEUED' : 'PENDING',
      // A root's templates can only reference the run input: resolve now, so a missing path is
      // reported to the caller of startRun instead of failing the run later.
      input: root ? withStep(step.key, () => resolveTemplates(step.input, { input: runInput, steps: {} }, limits)) : null,
    };
  });
}

/** Runs `fn`, naming the step in a LimitExceededError it throws. */
function withStep<T>(key: string, fn: () => T): T {
  try {
    return fn();
  } catch (e: unknown) {
    if (e instanceof LimitExceededError) {
      throw new LimitExceededError(`Step "${key}": ${e.message}`, { ...e.data, limit: e.data.limit as string, max: e.data.max as number, step: key });
    }
    throw e;
  }
}

/** The events a new run starts its history with: the run PENDING, then each ready root QUEUED. */
export function startEvents(tasks: readonly (Pick<InitialTask, 'key' | 'status'> & { id: string })[]): EventDraft[] {
  return [
    { type: 'run.status', status: 'PENDING', taskId: null, taskKey: null, attempt: null, data: null },
    ...tasks
      .filter((t) => t.status === 'QUEUED')
      .map((t): EventDraft => ({ type: 'task.status', status: 'QUEUED', taskId: t.id, taskKey: t.key, attempt: 0, data: null })),
  ];
}
