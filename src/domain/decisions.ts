/**
 * Which transition, if any, an outside event calls for, given the run as it is under its lock.
 * Pure: the engine locks and loads, asks here, then applies the answer through the state machine.
 * A `null` decision means "nothing to do" (another replica got there first, the run moved on);
 * an error is the caller's answer (a stale fencing token, a cancelled run).
 */
import { ConflictError, LeaseLostError, RunCancelledError, type DomainError } from './errors';
import type { Json } from './glossary';
import { secretMatches } from './lease-token';
import { isTerminalRun, type RunState, type TaskState, type Transition } from './run-machine';

/** A result a holder reports for its attempt. */
export type AttemptResult =
  | { kind: 'succeeded'; output: Json }
  /** `reason`: a machine-readable cause the conductor found (OUTPUT_TOO_LARGE), kept in the event. */
  | { kind: 'failed'; error: string; retryable: boolean; reason?: string }
  | { kind: 'released' };

/** What becomes of a reported result: a transition to apply, the task as it stands (a repeat), or a refusal. */
export type ResultDecision = { transition: Transition } | { unchanged: true } | { refused: DomainError };

/**
 * A holder's result is accepted only with the task's current fencing token, while its attempt
 * runs. Completing twice with the current token is idempotent: the first result stands.
 */
export function decideResult(
  run: Pick<RunState, 'id' | 'status'>,
  task: TaskState,
  fence: string,
  result: AttemptResult,
  /** The secret of the caller's lease token; undefined: the conductor's own executors, which hold the task record. */
  secret?: string | null,
): ResultDecision {
  // A wrong secret is refused like a stale token: the caller learns nothing about the lease.
  if (task.fence !== fence || (secret !== undefined && !secretMatches(task.leaseSecret, secret))) return { refused: new LeaseLostError(task.id, fence) };
  if (task.status === 'CANCELLED' || run.status === 'CANCELLED') return { refused: new RunCancelledError(run.id, task.id, run.status) };
  if (task.status === 'SUCCEEDED' && result.kind === 'succeeded') return { unchanged: true };
  if (task.status !== 'RUNNING') return { refused: new LeaseLostError(task.id, fence) };
  return { transition: { ...result, taskId: task.id } };
}

/**
 * A durable timer came due, if the attempt still waits on it: a `sleep` step succeeds with its
 * input; a `signal` step's timeout fails the attempt (retryable: the retry policy decides whether
 * it waits again).
 */
export function decideTimerFired(task: TaskState | undefined, fence: string): Transition | null {
  if (!task || task.status !== 'RUNNING' || task.fence !== fence || task.timerAt === null) return null;
  if (task.signalName !== null) {
    return {
      kind: 'failed',
      taskId: task.id,
      error: `No signal "${task.signalName}" arrived by ${task.timerAt.toISOString()}`,
      retryable: true,
      failure: 'TIMED_OUT',
    };
  }
  return { kind: 'succeeded', taskId: task.id, output: task.input };
}

/**
 * A lease expired unrenewed: the attempt fails (retryable), if it still runs under the token the
 * reaper saw. A parked attempt (a sleep on its durable timer, a `workflow` step waiting for its
 * child run) holds no lease to expire; its step timeout still bounds it.
 */
export function decideLeaseExpired(task: TaskState | undefined, fence: string): Transition | null {
  // A fan task runs with no holder and no lease of its own: its items hold theirs.
  if (
    !task ||
    task.status !== 'RUNNING' ||
    task.fence !== fence ||
    task.timerAt !== null ||
    task.itemsLeft !== null ||
    task.signalName !== null ||
    task.childRunId !== null
  ) {
    return null;
  }
  return { kind: 'failed', taskId: task.id, error: 'The lease expired: the worker stopped heartbeating', retryable: true, failure: 'LEASE_EXPIRED' };
}

/** The step's timeoutMs passed for this attempt, whatever its heartbeats said. */
export function decideAttemptTimedOut(task: (TaskState & { timeoutMs: number | null }) | undefined, fence: string): Transition | null {
  if (!task || task.status !== 'RUNNING' || task.fence !== fence) return null;
  return { kind: 'failed', taskId: task.id, error: `Attempt ${task.attempt} timed out after ${task.timeoutMs} ms`, retryable: true, failure: 'TIMED_OUT' };
}

/**
 * The run's own deadline passed. It keeps counting while the run is PAUSED (as Temporal's
 * workflow execution timeout does): a pause does not extend the bound its owner set.
 */
export function decideRunDeadline(run: Pick<RunState, 'status' | 'deadlineAt'>, now: Date): Transition | null {
  if (isTerminalRun(run.status) || !run.deadlineAt || run.deadlineAt > now) return null;
  return { kind: 'runTimedOut', error: `Run timed out: it did not finish by its deadline ${run.deadlineAt.toISOString()}` };
}

/** Cancelling a finished run changes nothing (and is not an error: the caller gets the run). */
export function decideCancel(run: Pick<RunState, 'status'>, reason: string): Transition | null {
  return isTerminalRun(run.status) ? null : { kind: 'cancel', reason };
}

export function decideRetry(run: Pick<RunState, 'id' | 'status'> & { parentRunId?: string | null }): Transition {
  if (run.status !== 'FAILED' && run.status !== 'CANCELLED') {
    throw new ConflictError(`Run ${run.id} is ${run.status}; only FAILED or CANCELLED runs can be retried`, { runId: run.id, status: run.status });
  }
  // Its parent's step already took its end as the attempt's result: retrying the parent starts a new child.
  if (run.parentRunId) {
    throw new ConflictError(`Run ${run.id} is a child run of run ${run.parentRunId}; retry the parent run, which starts a new child for its failed step`, {
      runId: run.id,
      parentRunId: run.parentRunId,
      reason: 'CHILD_RUN',
    });
  }
  return { kind: 'retry' };
}
