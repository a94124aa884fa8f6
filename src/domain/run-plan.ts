/**
 * How a run starts: its tasks (root steps QUEUED with their input resolved, a root forEach step
 * fanned out, the rest PENDING) and its first events. Pure; the run, its tasks and its events
 * are inserted in one statement. Shared by startRun and by a `workflow` step starting a child run
 * inside a transition (src/domain/child-runs.ts).
 */
import { LimitExceededError, TemplateError } from './errors';
import { NO_FAN, planItems, stepFixed } from './fan-out-machine';
import { DEFAULT_PRIORITY } from './priorities';
import { rateLimitKeyOf } from './rate-limits';
import { DEFAULT_MAX_FOREACH_ITEMS } from './for-each';
import type { Json, WorkflowDefinition } from './glossary';
import type { RunEvent } from './model';
import { checkExpansion, resolveTemplates, type ExpansionLimits, type TemplateScope } from './templates';

/** An event before the store numbers it: the run's history entry without its seq, run and time. */
export type EventDraft = Pick<RunEvent, 'type' | 'status' | 'taskId' | 'taskKey' | 'attempt' | 'data'>;

/** A task a new run starts with, its id made by the plan (a fan task's items name it). */
export interface InitialTask {
  id: string;
  key: string;
  type: string;
  queue: string | null;
  /** RUNNING: a root forEach step's fan task, fanned out at start. */
  status: 'PENDING' | 'QUEUED' | 'RUNNING';
  input: Json;
  timeoutMs: number | null;
  parentTaskId: string | null;
  item: Json;
  itemIndex: number | null;
  itemCount: number | null;
  itemsLeft: number | null;
  itemsActive: number | null;
  failedItems: number[] | null;
  /** The step's priority, else the run's. */
  priority: number;
  /** A QUEUED task's rate-limit key (PENDING ones get theirs when queued). */
  rateLimitKey: string | null;
  rateLimitLimit: number | null;
  rateLimitPeriodMs: number | null;
}

/**
 * Root steps start QUEUED with their input resolved against the run input; the rest wait.
 *
 * @throws TemplateError when a root's template cannot be resolved.
 * @throws LimitExceededError (naming the step) when a root's input would expand past the limits,
 *   or a later step's certainly will: its templates that read the run input alone already do.
 */
export function planRun(
  definition: WorkflowDefinition,
  runInput: Json,
  limits?: ExpansionLimits,
  fan: {
    newId: () => string;
    maxForEachItems?: number;
    priority?: number;
    /** Every step waits PENDING: the run waits for a concurrency slot, whose admission promotes its roots. @default false */
    hold?: boolean;
  } = { newId: () => crypto.randomUUID() },
): InitialTask[] {
  const runPriority = fan.priority ?? DEFAULT_PRIORITY;
  return definition.steps.flatMap((step): InitialTask[] => {
    // A root with a `when` waits too (PENDING): the `promote` transition that follows the start
    // evaluates it, so a condition is only ever decided in the state machine.
    const root = fan.hold !== true && step.dependsOn.length === 0 && step.when === undefined;
    const { stepPriority, rateLimitLimit, rateLimitPeriodMs } = stepFixed(step);
    const base = {
      ...NO_FAN,
      id: fan.newId(),
      key: step.key,
      type: step.type,
      queue: step.queue,
      timeoutMs: step.timeoutMs,
      priority: stepPriority ?? runPriority,
      rateLimitKey: null,
      rateLimitLimit,
      rateLimitPeriodMs,
    };
    if (!root) {
      // A forEach step's input reads its item: what it expands to is known per item, later.
      if (step.forEach === undefined) withStep(step.key, () => checkExpansion(step.input, runInput, limits));
      return [{ ...base, status: 'PENDING', input: null }];
    }
    const scope: TemplateScope = { input: runInput, steps: {} };
    if (step.forEach !== undefined) {
      // A root forEach step fans out with the run: its items are created with it, in its insert.
      const items = withStep(step.key, () => planItems(step, scope, limits, fan.maxForEachItems ?? DEFAULT_MAX_FOREACH_ITEMS));
      if (items.length === 0) {
        // A start is one insert with no transition to finish the step and promote its dependents.
        throw new TemplateError(`Step "${step.key}": forEach ${JSON.stringify(step.forEach)} yields no items; a step that starts the run needs at least one`, {
          step: step.key,
          template: step.forEach,
        });
      }
      const active = Math.min(items.length, step.maxConcurrency ?? Infinity);
      const fanTask: InitialTask = { ...base, status: 'RUNNING', input: null, itemCount: items.length, itemsLeft: items.length, itemsActive: active };
      return [
        fanTask,
        ...items.map(({ item, input, rateLimitKey }, index): InitialTask => ({
          ...base,
          id: fan.newId(),
          status: index < active ? 'QUEUED' : 'PENDING',
          input,
          rateLimitKey,
          parentTaskId: fanTask.id,
          item,
          itemIndex: index,
        })),
      ];
    }
    return [
      {
        ...base,
        status: 'QUEUED',
        // A root's templates can only reference the run input: resolve now, so a missing path is
        // reported to the caller of startRun instead of failing the run later.
        input: withStep(step.key, () => resolveTemplates(step.input, scope, limits)),
        rateLimitKey: rateLimitKeyOf(step, { input: runInput, steps: {} }),
      },
    ];
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

/** The events a new run starts its history with: the run PENDING, then each ready root QUEUED (a fanned-out one RUNNING). */
export function startEvents(tasks: readonly (Pick<InitialTask, 'key' | 'status'> & Partial<Pick<InitialTask, 'itemCount'>> & { id: string })[]): EventDraft[] {
  return [
    { type: 'run.status', status: 'PENDING', taskId: null, taskKey: null, attempt: null, data: null },
    ...tasks
      .filter((t) => t.status === 'QUEUED' || t.status === 'RUNNING')
      .map((t): EventDraft => ({
        type: 'task.status',
        status: t.status,
        taskId: t.id,
        taskKey: t.key,
        attempt: 0,
        data: t.status === 'RUNNING' ? { items: t.itemCount ?? 0 } : null,
      })),
  ];
}
