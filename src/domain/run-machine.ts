/**
 * The run state machine, pure: given a run, its tasks and one transition, it computes the new
 * state of every task that changed, of the run, the events to append and the attempts that began
 * and ended. It is the one author of run events and attempt history: the engine persists what it
 * returns in the transaction of the transition (DESIGN: "a state change and its consequences
 * commit together"); nothing here does I/O or reads the clock.
 */
import { DomainError } from './errors';
import { maxFaultsOf, type Json, type StepDefinition } from './glossary';
import type { AttemptOutcome } from './model';
import { backoffDelayMs, shouldRetry } from './retry';
import { itemOverShare, retryFan, type CreatedTask, type FanWork } from './fan-out-machine';
import type { EventDraft } from './run-plan';
import { cancelUnfinished, failRun, launchChildren, promoteAndSettle, settleAfter } from './promotion';
import { isTerminalRun } from './statuses';
import { ChildLookupsNeeded, type ChildRunPlan, type ChildWorkflowRef } from './child-runs';

export { isTerminalRun, isTerminalTask } from './statuses';
export { planRun, startEvents, type EventDraft, type InitialTask } from './run-plan';
export type { ClaimableTask, FailureKind, MachineContext, RunState, TaskState, Transition, TransitionResult } from './machine-types';
import type { ClaimableTask, MachineContext, RunState, TaskState, Transition, TransitionResult } from './machine-types';

/** A transition that does not apply to the state it was given: a caller's guard is missing. */
export class IllegalTransitionError extends DomainError {
  readonly code = 'CONFLICT' as const;
  constructor(kind: Transition['kind'], why: string, data: Record<string, unknown> = {}) {
    super(`Illegal transition ${kind}: ${why}`, { kind, ...data });
  }
}

/**
 * A QUEUED task claimed by `workerId`: what the claim statement (`claimReadyTasks`) does in SQL,
 * for claims made in memory under the run's lock (eager dispatch). The fencing token goes up by
 * one, as on every claim.
 */
export function claimTask(task: ClaimableTask, workerId: string, now: Date, secret: string): TaskState {
  return {
    ...task,
    status: 'RUNNING',
    attempt: task.attempt + 1,
    fence: (BigInt(task.fence) + 1n).toString(),
    leaseSecret: secret,
    workerId,
    startedAt: now,
    availableAt: null,
    deadlineAt: task.timeoutMs === null ? null : new Date(now.getTime() + task.timeoutMs),
  };
}

/** The machine's working copy of a run during one transition (exported for the rules in promotion.ts). */
export class Working implements FanWork {
  /** The step's own task by key (item tasks share their fan task's key: they are in `items`). */
  readonly byKey = new Map<string, TaskState>();
  readonly byId = new Map<string, TaskState>();
  /** Loaded item tasks by fan task id. */
  readonly items = new Map<string, TaskState[]>();
  /** Tasks this transition created. */
  readonly created = new Set<string>();
  readonly steps = new Map<string, StepDefinition>();
  readonly changed = new Set<string>();
  /** Tasks whose running attempt this transition already ended. */
  readonly ended = new Set<string>();
  readonly events: EventDraft[] = [];
  readonly ready: TransitionResult['ready'] = [];
  readonly attemptsStarted: TransitionResult['attemptsStarted'] = [];
  readonly attemptsEnded: TransitionResult['attemptsEnded'] = [];
  readonly childRuns: ChildRunPlan[] = [];
  readonly orphanedChildren: string[] = [];
  readonly missing: { workflows: ChildWorkflowRef[]; rooms: string[] } = { workflows: [], rooms: [] };
  /** The child run whose result this transition records: its end is no orphan. */
  reportingChild: string | undefined;
  run: RunState;
  runChanged = false;

  constructor(readonly ctx: MachineContext) {
    this.run = { ...ctx.run };
    for (const step of ctx.definition.steps) this.steps.set(step.key, step);
    for (const t of ctx.tasks) this.add({ ...t });
  }

  private add(task: TaskState): void {
    this.byId.set(task.id, task);
    if (task.parentTaskId === null) this.byKey.set(task.key, task);
    else this.itemsOf(task.parentTaskId).push(task);
  }

  itemsOf(fanId: string): TaskState[] {
    let list = this.items.get(fanId);
    if (!list) this.items.set(fanId, (list = []));
    return list;
  }

  create(task: CreatedTask): void {
    this.add(task);
    this.created.add(task.id);
  }

  setTask(task: TaskState, patch: Partial<TaskState>, data: Json = null): void {
    // An attempt ends when its task leaves RUNNING: the transition's target as the transition
    // says (see endTarget), any other one because the run ended around it.
    if (task.status === 'RUNNING' && patch.status !== undefined && patch.status !== 'RUNNING' && !this.ended.has(task.id)) {
      this.attemptsEnded.push({ taskId: task.id, fence: task.fence, outcome: 'CANCELLED', error: null });
      this.ended.add(task.id);
    }
    // A waiting `workflow` attempt that ends otherwise than by its child's result leaves the child an orphan.
    if (task.status === 'RUNNING' && task.childRunId && patch.status !== undefined && patch.status !== 'RUNNING' && task.childRunId !== this.reportingChild) {
      this.orphanedChildren.push(task.childRunId);
    }
    Object.assign(task, patch);
    // A step leaving RUNNING waits for no signal any more.
    if (task.status !== 'RUNNING') task.signalName = null;
    this.changed.add(task.id);
    // A run's terminal event is its last: once the run has ended, a task's late change (a result
    // of an attempt that ran before this ordering held) is written without an event.
    if (patch.status && !isTerminalRun(this.run.status)) {
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

  /** Ends the target's running attempt with the transition's own outcome (before setTask would call it CANCELLED). */
  endTarget(task: TaskState, outcome: AttemptOutcome, error: string | null = null): void {
    if (task.status !== 'RUNNING') return;
    this.attemptsEnded.push({ taskId: task.id, fence: task.fence, outcome, error });
    this.ended.add(task.id);
  }

  /** A claim of `task` (already in its claimed state): its RUNNING event and its attempt; the run starts. */
  recordClaim(task: TaskState, workerId: string): void {
    if (this.run.status === 'PENDING') this.setRun({ status: 'RUNNING', startedAt: this.ctx.now });
    this.events.push({ type: 'task.status', status: 'RUNNING', taskId: task.id, taskKey: task.key, attempt: task.attempt, data: { workerId } });
    this.attemptsStarted.push({ taskId: task.id, fence: task.fence, attempt: task.attempt, workerId });
  }

  result(): TransitionResult {
    return {
      tasks: [...this.changed].filter((id) => !this.created.has(id)).map((id) => this.byId.get(id)!),
      created: [...this.created].map((id) => this.byId.get(id) as CreatedTask),
      run: this.runChanged ? this.run : null,
      events: this.events,
      ready: this.ready,
      attemptsStarted: this.attemptsStarted,
      attemptsEnded: this.attemptsEnded,
      childRuns: this.childRuns,
      orphanedChildren: this.orphanedChildren,
    };
  }
}

export function applyTransition(ctx: MachineContext, given: Transition): TransitionResult {
  const w = new Working(ctx);
  let transition = given;
  if (transition.kind === 'succeeded') {
    const item = w.byId.get(transition.taskId);
    const over = item ? itemOverShare(w, item, transition.output) : null;
    if (over !== null) {
      transition = { kind: 'failed', taskId: transition.taskId, error: over, retryable: false, reason: 'OUTPUT_TOO_LARGE', childRunId: transition.childRunId };
    }
  }
  if (transition.kind === 'succeeded' || transition.kind === 'failed') w.reportingChild = transition.childRunId;
  switch (transition.kind) {
    case 'succeeded': {
      const task = mustBeRunning(w, transition);
      w.endTarget(task, 'SUCCEEDED');
      w.setTask(task, { status: 'SUCCEEDED', output: transition.output, error: null, finishedAt: ctx.now, timerAt: null });
      if (!isTerminalRun(w.run.status)) settleAfter(w, task);
      break;
    }
    case 'failed': {
      const task = mustBeRunning(w, transition);
      const step = w.steps.get(task.key)!;
      const failure = transition.failure ?? 'FAILED';
      w.endTarget(task, failure, transition.error);
      // A fault of the system (the lease expired) spends the fault budget, never the step's
      // attempts, and queues the task again at once: the lease TTL already spaced it out.
      const fault = failure === 'LEASE_EXPIRED';
      const failures = task.failures + (fault ? 0 : 1);
      const faults = task.faults + (fault ? 1 : 0);
      const again = fault ? faults <= maxFaultsOf(step.retry) : shouldRetry(step.retry, failures, transition.retryable);
      if (!isTerminalRun(w.run.status) && again) {
        const delay = fault ? 0 : backoffDelayMs(step.retry, failures, ctx.random);
        const availableAt = new Date(ctx.now.getTime() + delay);
        w.setTask(
          task,
          { status: 'QUEUED', failures, faults, error: transition.error, availableAt, queuedAt: ctx.now, timerAt: null, deadlineAt: null, workerId: null },
          { error: transition.error, failure, fault, retryInMs: delay, ...(transition.reason ? { reason: transition.reason } : {}) },
        );
        w.ready.push({ queue: step.queue, availableAt });
      } else {
        const why = fault ? `${transition.error} (fault ${faults}; the step allows ${maxFaultsOf(step.retry)})` : transition.error;
        w.setTask(
          task,
          { status: 'FAILED', failures, faults, error: why, finishedAt: ctx.now, timerAt: null, deadlineAt: null },
          { error: why, failure, fault, ...(transition.reason ? { reason: transition.reason } : {}) },
        );
        if (!isTerminalRun(w.run.status)) {
          if (task.parentTaskId === null) failRun(w, `Step "${task.key}" failed: ${why}`);
          else settleAfter(w, task);
        }
      }
      break;
    }
    case 'released': {
      const task = mustBeRunning(w, transition);
      const step = w.steps.get(task.key)!;
      w.endTarget(task, 'RELEASED');
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
      if (isTerminalRun(w.run.status)) throw new IllegalTransitionError('cancel', `the run is already ${w.run.status}`, { runId: w.run.id });
      cancelUnfinished(w);
      w.setRun({ status: 'CANCELLED', error: transition.reason, finishedAt: ctx.now });
      break;
    }
    case 'runTimedOut': {
      if (isTerminalRun(w.run.status)) throw new IllegalTransitionError('runTimedOut', `the run is already ${w.run.status}`, { runId: w.run.id });
      cancelUnfinished(w);
      w.setRun({ status: 'FAILED', error: transition.error, finishedAt: ctx.now }, { error: transition.error, failure: 'TIMED_OUT' });
      break;
    }
    case 'retry': {
      if (w.run.status !== 'FAILED' && w.run.status !== 'CANCELLED') {
        throw new IllegalTransitionError('retry', `only FAILED or CANCELLED runs can be retried, the run is ${w.run.status}`, { runId: w.run.id });
      }
      // The run opens again first: its tasks' events follow its RUNNING, never its old terminal event.
      const timeoutMs = ctx.definition.timeoutMs;
      w.setRun({ status: 'RUNNING', output: null, error: null, finishedAt: null, deadlineAt: timeoutMs ? new Date(ctx.now.getTime() + timeoutMs) : null });
      // Fresh retry and fault budgets; the attempt number and the fencing token keep counting up.
      // An item keeps its input (resolved when its step fanned out).
      const reset = (task: TaskState): void =>
        w.setTask(task, {
          status: 'PENDING',
          failures: 0,
          faults: 0,
          input: task.parentTaskId === null ? null : task.input,
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
      for (const step of ctx.definition.steps) {
        const task = w.byKey.get(step.key)!;
        if (task.status !== 'FAILED' && task.status !== 'CANCELLED') continue;
        // A step that fanned out runs its failed and cancelled items again, not its whole list.
        if (task.itemCount !== null && task.itemCount > 0) retryFan(w, step, task, reset);
        else reset(task);
      }
      promoteAndSettle(w);
      break;
    }
    case 'promote': {
      if (!isTerminalRun(w.run.status)) promoteAndSettle(w);
      break;
    }
    case 'claim': {
      if (isTerminalRun(w.run.status) || w.run.status === 'PAUSED') {
        throw new IllegalTransitionError('claim', `the run is ${w.run.status}`, { runId: w.run.id });
      }
      for (const taskId of transition.taskIds) {
        const task = mustGet(w, taskId) as ClaimableTask;
        if (task.status !== 'QUEUED' || (task.availableAt !== null && task.availableAt > ctx.now)) {
          throw new IllegalTransitionError('claim', `task ${task.key} is ${task.status}${task.status === 'QUEUED' ? ' and not available yet' : ''}`, {
            taskId,
          });
        }
        // The claim's RUNNING event is recordClaim's (it names the worker), not setTask's.
        Object.assign(task, claimTask(task, transition.workerId, ctx.now, ctx.newSecret()));
        w.changed.add(task.id);
        w.recordClaim(task, transition.workerId);
      }
      // Eager claims come after the transaction's transitions, which started its children already.
      return w.result();
    }
    case 'claimed': {
      for (const taskId of transition.taskIds) {
        const task = mustGet(w, taskId);
        if (task.status !== 'RUNNING') throw new IllegalTransitionError('claimed', `task ${task.key} is ${task.status}, not claimed`, { taskId });
        w.recordClaim(task, transition.workerId);
      }
      // A claim sees only the tasks it claimed: it starts no children.
      return w.result();
    }
    case 'awaitSignal': {
      const task = mustBeRunning(w, transition);
      // Parked: no event (the attempt still runs); `signalName` and `timerAt` say what it waits for.
      w.setTask(task, { signalName: transition.name, timerAt: transition.timeoutAt });
      break;
    }
    case 'pause': {
      if (isTerminalRun(w.run.status) || w.run.status === 'PAUSED') {
        throw new IllegalTransitionError('pause', `the run is ${w.run.status}`, { runId: w.run.id });
      }
      w.setRun({ status: 'PAUSED', pausedAt: ctx.now });
      break;
    }
    case 'resume': {
      if (w.run.status !== 'PAUSED') throw new IllegalTransitionError('resume', `the run is ${w.run.status}, not PAUSED`, { runId: w.run.id });
      // A run paused before its first claim had not started: it goes back to PENDING.
      w.setRun(
        { status: w.run.startedAt ? 'RUNNING' : 'PENDING', pausedAt: null },
        { resumed: true, pausedMs: ctx.now.getTime() - (w.run.pausedAt?.getTime() ?? ctx.now.getTime()) },
      );
      promoteAndSettle(w);
      break;
    }
    case 'launchChildren':
      break;
  }
  // Whatever made `workflow` steps ready (a result, a retry, a delay ending) starts their children now.
  launchChildren(w);
  if (w.missing.workflows.length || w.missing.rooms.length) throw new ChildLookupsNeeded(w.missing.workflows, w.missing.rooms);
  return w.result();
}

function mustGet(w: Working, taskId: string): TaskState {
  const task = w.byId.get(taskId);
  if (!task) throw new IllegalTransitionError('claim', `task ${taskId} is not part of run ${w.run.id}`, { taskId, runId: w.run.id });
  return task;
}

/** An attempt can only end while it runs: results of others are refused before the machine is asked. */
function mustBeRunning(w: Working, transition: Extract<Transition, { taskId: string }>): TaskState {
  const task = w.byId.get(transition.taskId);
  if (!task) throw new IllegalTransitionError(transition.kind, `task ${transition.taskId} is not part of run ${w.run.id}`, { taskId: transition.taskId });
  if (task.status !== 'RUNNING') throw new IllegalTransitionError(transition.kind, `task ${task.key} is ${task.status}, not RUNNING`, { taskId: task.id });
  return task;
}
