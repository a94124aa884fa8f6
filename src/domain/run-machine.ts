/**
 * The run state machine, pure: given a run, its tasks and one transition, it computes the new
 * state of every task that changed, of the run, and the events to append. The store applies the
 * result in the same transaction as the transition (DESIGN: "a state change and its consequences
 * commit together"); nothing here does I/O or reads the clock.
 */
import { coerceError, TemplateError } from './errors';
import type { Json, RunStatus, StepDefinition, TaskStatus, WorkflowDefinition } from './glossary';
import { backoffDelayMs, shouldRetry } from './retry';
import { resolveTemplates } from './templates';

export interface TaskState {
  id: string;
  key: string;
  status: TaskStatus;
  attempt: number;
  fence: string;
  input: Json;
  output: Json;
  error: string | null;
  workerId: string | null;
  availableAt: Date | null;
  timerAt: Date | null;
  deadlineAt: Date | null;
  queuedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface RunState {
  id: string;
  status: RunStatus;
  input: Json;
  output: Json;
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface EventDraft {
  type: 'run.status' | 'task.status';
  status: string;
  taskId: string | null;
  taskKey: string | null;
  attempt: number | null;
  data: Json;
}

export interface TransitionResult {
  /** Tasks whose state changed, in their new state. */
  tasks: TaskState[];
  /** The run in its new state when it changed, else null. */
  run: RunState | null;
  events: EventDraft[];
  /** Tasks made ready now, for waking the dispatcher (built-ins: queue null) and queue pollers. */
  ready: { queue: string | null; availableAt: Date | null }[];
}

export interface MachineContext {
  definition: WorkflowDefinition;
  run: RunState;
  tasks: TaskState[];
  now: Date;
  /** Jitter source for retry backoff; injected so tests are deterministic. */
  random: () => number;
}

/** Why an attempt failed: its own error, its step's timeout, or its lease expiring unrenewed. */
export type FailureKind = 'FAILED' | 'TIMED_OUT' | 'LEASE_EXPIRED';

export type Transition =
  | { kind: 'succeeded'; taskId: string; output: Json }
  | { kind: 'failed'; taskId: string; error: string; retryable: boolean; failure?: FailureKind }
  /** The holder gives the attempt back unfinished (a worker draining): queued again, not counted. */
  | { kind: 'released'; taskId: string }
  | { kind: 'cancel'; reason: string }
  /** The run's own timeout: it fails, and every unfinished task is cancelled. */
  | { kind: 'runTimedOut'; error: string }
  /** retryRun: failed and cancelled steps run again; succeeded ones keep their outputs. */
  | { kind: 'retry' };

/** A task a new run starts with, before it has an id. */
export interface InitialTask {
  key: string;
  type: string;
  queue: string | null;
  status: 'PENDING' | 'QUEUED';
  input: Json;
}

/** Root steps start QUEUED with their input resolved against the run input; the rest wait. */
export function planRun(definition: WorkflowDefinition, runInput: Json): InitialTask[] {
  return definition.steps.map((step) => {
    const root = step.dependsOn.length === 0;
    return {
      key: step.key,
      type: step.type,
      queue: step.queue,
      status: root ? 'QUEUED' : 'PENDING',
      // A root's templates can only reference the run input: resolve now, so a missing path is
      // reported to the caller of startRun instead of failing the run later.
      input: root ? resolveTemplates(step.input, { input: runInput, steps: {} }) : null,
    };
  });
}

const TERMINAL_TASK: ReadonlySet<TaskStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const TERMINAL_RUN: ReadonlySet<RunStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/**
 * A QUEUED task claimed by `workerId`: what the claim statement (`claimReadyTasks`) does in SQL,
 * for claims made in memory under the run's lock (eager dispatch). The fencing token goes up by
 * one, as on every claim.
 */
export function claimTask(task: TaskState & { timeoutMs: number | null }, workerId: string, now: Date): TaskState {
  return {
    ...task,
    status: 'RUNNING',
    attempt: task.attempt + 1,
    fence: (BigInt(task.fence) + 1n).toString(),
    workerId,
    startedAt: now,
    availableAt: null,
    deadlineAt: task.timeoutMs === null ? null : new Date(now.getTime() + task.timeoutMs),
  };
}

export function isTerminalRun(status: RunStatus): boolean {
  return TERMINAL_RUN.has(status);
}

class Working {
  readonly byKey = new Map<string, TaskState>();
  readonly byId = new Map<string, TaskState>();
  readonly steps = new Map<string, StepDefinition>();
  readonly changed = new Set<string>();
  readonly events: EventDraft[] = [];
  readonly ready: TransitionResult['ready'] = [];
  run: RunState;
  runChanged = false;

  constructor(readonly ctx: MachineContext) {
    this.run = { ...ctx.run };
    for (const step of ctx.definition.steps) this.steps.set(step.key, step);
    for (const t of ctx.tasks) {
      const copy = { ...t };
      this.byKey.set(copy.key, copy);
      this.byId.set(copy.id, copy);
    }
  }

  setTask(task: TaskState, patch: Partial<TaskState>, data: Json = null): void {
    Object.assign(task, patch);
    this.changed.add(task.id);
    if (patch.status) {
      this.events.push({ type: 'task.status', status: patch.status, taskId: task.id, taskKey: task.key, attempt: task.attempt, data });
    }
  }

  setRun(patch: Partial<RunState>, data: Json = null): void {
    Object.assign(this.run, patch);
    this.runChanged = true;
    if (patch.status) {
      this.events.push({ type: 'run.status', status: patch.status, taskId: null, taskKey: null, attempt: null, data });
    }
  }

  result(): TransitionResult {
    return {
      tasks: [...this.changed].map((id) => this.byId.get(id)!),
      run: this.runChanged ? this.run : null,
      events: this.events,
      ready: this.ready,
    };
  }
}

export function applyTransition(ctx: MachineContext, transition: Transition): TransitionResult {
  const w = new Working(ctx);
  switch (transition.kind) {
    case 'succeeded': {
      const task = mustGet(w, transition.taskId);
      w.setTask(task, { status: 'SUCCEEDED', output: transition.output, error: null, finishedAt: ctx.now, timerAt: null });
      if (!isTerminalRun(w.run.status)) promoteAndSettle(w);
      break;
    }
    case 'failed': {
      const task = mustGet(w, transition.taskId);
      const step = w.steps.get(task.key)!;
      const failure = transition.failure ?? 'FAILED';
      if (!isTerminalRun(w.run.status) && shouldRetry(step.retry, task.attempt, transition.retryable)) {
        const delay = backoffDelayMs(step.retry, task.attempt, ctx.random);
        const availableAt = new Date(ctx.now.getTime() + delay);
        w.setTask(
          task,
          { status: 'QUEUED', error: transition.error, availableAt, queuedAt: ctx.now, timerAt: null, deadlineAt: null, workerId: null },
          { error: transition.error, failure, retryInMs: delay },
        );
        w.ready.push({ queue: step.queue, availableAt });
      } else {
        w.setTask(
          task,
          { status: 'FAILED', error: transition.error, finishedAt: ctx.now, timerAt: null, deadlineAt: null },
          { error: transition.error, failure },
        );
        if (!isTerminalRun(w.run.status)) failRun(w, `Step "${task.key}" failed: ${transition.error}`);
      }
      break;
    }
    case 'released': {
      const task = mustGet(w, transition.taskId);
      const step = w.steps.get(task.key)!;
      if (isTerminalRun(w.run.status)) {
        // The run already ended (a sibling failed): nothing to run again.
        w.setTask(task, { status: 'CANCELLED', finishedAt: ctx.now, timerAt: null, deadlineAt: null });
        break;
      }
      // Not a failure: the attempt does not count against the retry policy.
      w.setTask(
        task,
        { status: 'QUEUED', attempt: task.attempt - 1, availableAt: ctx.now, queuedAt: ctx.now, timerAt: null, deadlineAt: null, workerId: null },
        { released: true },
      );
      w.ready.push({ queue: step.queue, availableAt: ctx.now });
      break;
    }
    case 'cancel': {
      cancelUnfinished(w);
      w.setRun({ status: 'CANCELLED', error: transition.reason, finishedAt: ctx.now });
      break;
    }
    case 'runTimedOut': {
      cancelUnfinished(w);
      w.setRun({ status: 'FAILED', error: transition.error, finishedAt: ctx.now }, { error: transition.error, failure: 'TIMED_OUT' });
      break;
    }
    case 'retry': {
      for (const step of ctx.definition.steps) {
        const task = w.byKey.get(step.key)!;
        if (task.status !== 'FAILED' && task.status !== 'CANCELLED') continue;
        // A fresh retry budget; the fencing token keeps counting up.
        w.setTask(task, {
          status: 'PENDING',
          attempt: 0,
          input: null,
          output: null,
          error: null,
          workerId: null,
          availableAt: null,
          timerAt: null,
          deadlineAt: null,
          queuedAt: null,
          startedAt: null,
          finishedAt: null,
        });
      }
      w.setRun({ status: 'RUNNING', output: null, error: null, finishedAt: null });
      promoteAndSettle(w);
      break;
    }
  }
  return w.result();
}

function cancelUnfinished(w: Working): void {
  for (const task of w.byKey.values()) {
    if (!TERMINAL_TASK.has(task.status)) {
      w.setTask(task, { status: 'CANCELLED', finishedAt: w.ctx.now, timerAt: null, deadlineAt: null, availableAt: null });
    }
  }
}

function mustGet(w: Working, taskId: string): TaskState {
  const task = w.byId.get(taskId);
  if (!task) throw new Error(`task ${taskId} is not part of run ${w.run.id}`);
  return task;
}

/** Queue every PENDING step whose dependencies all succeeded; finish the run when nothing is left. */
function promoteAndSettle(w: Working): void {
  const outputs: Record<string, { output: Json }> = {};
  for (const t of w.byKey.values()) if (t.status === 'SUCCEEDED') outputs[t.key] = { output: t.output };

  for (const step of w.ctx.definition.steps) {
    const task = w.byKey.get(step.key)!;
    if (task.status !== 'PENDING') continue;
    if (!step.dependsOn.every((dep) => w.byKey.get(dep)?.status === 'SUCCEEDED')) continue;
    let input: Json;
    try {
      input = resolveTemplates(step.input, { input: w.run.input, steps: outputs });
    } catch (e: unknown) {
      // A template that cannot be resolved will not resolve on a retry either: fail at once.
      const message = e instanceof TemplateError ? e.message : coerceError(e).message;
      w.setTask(task, { status: 'FAILED', error: message, finishedAt: w.ctx.now }, { error: message });
      failRun(w, `Step "${step.key}" failed: ${message}`);
      return;
    }
    w.setTask(task, { status: 'QUEUED', input, queuedAt: w.ctx.now, availableAt: w.ctx.now });
    w.ready.push({ queue: step.queue, availableAt: w.ctx.now });
  }

  const tasks = [...w.byKey.values()];
  if (tasks.every((t) => t.status === 'SUCCEEDED')) {
    const dependedOn = new Set(w.ctx.definition.steps.flatMap((s) => s.dependsOn));
    const output: Record<string, Json> = {};
    for (const step of w.ctx.definition.steps) {
      if (!dependedOn.has(step.key)) output[step.key] = w.byKey.get(step.key)!.output;
    }
    w.setRun({ status: 'SUCCEEDED', output, error: null, finishedAt: w.ctx.now });
  }
}

/** The run fails at once; steps that have not started are cancelled, running ones may finish. */
function failRun(w: Working, error: string): void {
  for (const task of w.byKey.values()) {
    if (task.status === 'PENDING' || task.status === 'QUEUED') {
      w.setTask(task, { status: 'CANCELLED', finishedAt: w.ctx.now, availableAt: null });
    }
  }
  w.setRun({ status: 'FAILED', error, finishedAt: w.ctx.now }, { error });
}
