/**
 * Decisions of the durable waits a caller controls: signals (signalRun, a `signal` step reaching
 * its wait) and pause/resume. Pure, like decisions.ts: the engine locks the run and its pending
 * signals, asks here, and applies the answer through the state machine.
 */
import { ConflictError, LimitExceededError, ValidationError } from './errors';
import type { Json, WorkflowDefinition } from './glossary';
import type { SignalRecord } from './model';
import { isTerminalRun, type RunState, type TaskState, type Transition } from './run-machine';

/** Built-in step type that waits for a signal. */
export const SIGNAL_STEP_TYPE = 'signal';

/**
 * Signals a run keeps unconsumed at most: past it, signalRun answers LIMIT_EXCEEDED (limit
 * MAX_PENDING_SIGNALS_PER_RUN). Each is a row and up to MAX_INPUT_BYTES of payload; 100 covers
 * any approval flow and bounds what a caller can pile onto one run.
 */
export const MAX_PENDING_SIGNALS_PER_RUN = 100;

/** The names a workflow's signal steps wait for (literal, checked at registration). */
export function signalNames(definition: WorkflowDefinition): string[] {
  const names = new Set<string>();
  for (const step of definition.steps) {
    if (step.type !== SIGNAL_STEP_TYPE || step.queue !== null) continue;
    const input = step.input;
    if (input !== null && typeof input === 'object' && !Array.isArray(input) && typeof input['name'] === 'string') names.add(input['name']);
  }
  return [...names].sort();
}

/** What becomes of a signal sent to a run: delivered to a waiting step at once, or kept for a step to come. */
export type SignalDecision = { deliver: { taskId: string; transition: Transition } } | { keep: true };

/**
 * signalRun. Refused for a finished run (CONFLICT naming its status), a name no signal step of
 * the workflow waits for (BAD_USER_INPUT naming the known ones), and, when no step waits for it
 * now, a run already holding MAX_PENDING_SIGNALS_PER_RUN unconsumed signals (LIMIT_EXCEEDED).
 * A step parked on the name gets it (the one waiting longest); otherwise it is kept. A PAUSED run
 * takes signals too: a waiting step completes, its dependents start on resume.
 */
export function decideSignal(
  run: Pick<RunState, 'id' | 'status'>,
  definition: WorkflowDefinition,
  tasks: readonly TaskState[],
  name: string,
  payload: Json,
  pendingCount: number,
  maxPending = MAX_PENDING_SIGNALS_PER_RUN,
): SignalDecision {
  if (isTerminalRun(run.status)) {
    throw new ConflictError(`Run ${run.id} is ${run.status}; signals can only be sent to a PENDING, RUNNING or PAUSED run`, {
      runId: run.id,
      status: run.status,
    });
  }
  const known = signalNames(definition);
  if (!known.includes(name)) {
    throw new ValidationError(
      `No signal step of run ${run.id} waits for a signal named ${JSON.stringify(name)}; ` +
        (known.length ? `its workflow's signal steps wait for: ${known.map((n) => JSON.stringify(n)).join(', ')}` : 'its workflow has no signal steps'),
      { runId: run.id, name, knownNames: known },
    );
  }
  const waiting = tasks
    .filter((t) => t.status === 'RUNNING' && t.signalName === name)
    .sort((a, b) => (a.startedAt?.getTime() ?? 0) - (b.startedAt?.getTime() ?? 0))[0];
  if (waiting) return { deliver: { taskId: waiting.id, transition: { kind: 'succeeded', taskId: waiting.id, output: payload } } };
  if (pendingCount >= maxPending) {
    throw new LimitExceededError(
      `Run ${run.id} already holds ${pendingCount} signals no step has consumed (MAX_PENDING_SIGNALS_PER_RUN is ${maxPending}); wait for its signal steps to consume them`,
      { limit: 'MAX_PENDING_SIGNALS_PER_RUN', max: maxPending, actual: pendingCount + 1, runId: run.id },
    );
  }
  return { keep: true };
}

/** What a `signal` step's attempt does when it reaches its wait. */
export type AwaitDecision = { consume: SignalRecord; transition: Transition } | { transition: Transition } | null;

/**
 * A `signal` step's attempt reached its wait: the oldest pending signal of its name completes it
 * at once (its payload is the output); else it parks, holding no lease, until a signal or
 * `timeoutAt`. Null when the attempt is no longer the current one, or already parked.
 */
export function decideAwaitSignal(
  task: TaskState | undefined,
  fence: string,
  name: string,
  timeoutAt: Date | null,
  pending: readonly SignalRecord[],
): AwaitDecision {
  if (!task || task.status !== 'RUNNING' || task.fence !== fence || task.signalName !== null) return null;
  // Send order: `seq` comes from a sequence (a string: bigint), so compare as integers.
  const first = pending.filter((s) => s.name === name && s.consumedAt === null).sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1))[0];
  if (first) return { consume: first, transition: { kind: 'succeeded', taskId: task.id, output: first.payload } };
  return { transition: { kind: 'awaitSignal', taskId: task.id, name, timeoutAt } };
}

/** pauseRun: PAUSED twice is one pause (idempotent); a finished run cannot pause. */
export function decidePause(run: Pick<RunState, 'id' | 'status'>): Transition | null {
  if (isTerminalRun(run.status)) {
    throw new ConflictError(`Run ${run.id} is ${run.status}; only PENDING or RUNNING runs can be paused`, { runId: run.id, status: run.status });
  }
  return run.status === 'PAUSED' ? null : { kind: 'pause' };
}

/** resumeRun: a run not paused is returned as it is; a finished one is a CONFLICT. */
export function decideResume(run: Pick<RunState, 'id' | 'status'>): Transition | null {
  if (isTerminalRun(run.status)) {
    throw new ConflictError(`Run ${run.id} is ${run.status}; only a PAUSED run can be resumed`, { runId: run.id, status: run.status });
  }
  return run.status === 'PAUSED' ? { kind: 'resume' } : null;
}
