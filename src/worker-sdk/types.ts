/**
 * Terminology (the conductor's glossary, as a remote worker sees it):
 *
 * - **task**: one step of one run, waiting in a **queue** for a worker.
 * - **attempt**: one try at a task. `attempt` counts them from 1; a released attempt (a worker
 *   draining) does not count.
 * - **lease**: the right to execute one attempt until `leaseExpiresAt` (by the conductor's clock),
 *   extended by heartbeats (`renewLease`). A worker that stops heartbeating loses it: the
 *   conductor reclaims the task and hands it to another worker.
 * - **fencing token** (`leaseToken`): opaque to the SDK, `<number>.<secret>`: the number only
 *   ever increases, issued with each claim; the secret proves the claim was handed to this
 *   worker. The conductor accepts a result only with the task's current token, so a worker that
 *   was paused past its lease can never overwrite the result of the worker that took over.
 *
 * These types are the SDK's own: it shares no code with the conductor, only the GraphQL API.
 */

/** A JSON value: what task inputs and outputs are. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Names one attempt: the task and the fencing token of its lease. */
export interface TaskRef {
  taskId: string;
  leaseToken: string;
}

/** A claimed task, as the conductor hands it out. */
export interface ClaimedTask {
  id: string;
  runId: string;
  /** The step's key in its workflow. */
  key: string;
  /** The step's type: a label the worker's handler may switch on. */
  type: string;
  queue: string | null;
  /** 1 for the first attempt. */
  attempt: number;
  /** The step's input with its templates resolved. */
  input: Json;
  /** W3C trace context of the run (null when the conductor does not trace). */
  traceparent: string | null;
}

export interface TaskLease {
  leaseToken: string;
  /** By the conductor's clock. */
  leaseExpiresAt: Date;
  task: ClaimedTask;
}

/** What a handler gets for one attempt. */
export interface TaskContext {
  taskId: string;
  runId: string;
  key: string;
  type: string;
  attempt: number;
  input: Json;
  /** The worker holding the attempt. */
  workerId: string;
  /**
   * Aborted when the attempt must stop: the lease was lost (`reason` is a `LeaseLostError`), the
   * run was cancelled (`RunCancelledError`), or the worker is stopping and its grace period ran
   * out (`WorkerStoppingError`). A result returned after that is not reported.
   */
  signal: AbortSignal;
  /**
   * Renews the lease now (the worker also heartbeats on its own every `leaseMs × heartbeatFraction`).
   * Rejects with `LeaseLostError` or `RunCancelledError` when the attempt no longer owns the task.
   */
  heartbeat(): Promise<void>;
}

/** Runs one attempt; its return value (JSON) becomes the task's output. Throw to fail the attempt. */
export type TaskHandler = (ctx: TaskContext) => Promise<unknown> | unknown;

/** pino-compatible: `logger.info({ taskId }, 'message')`. */
export interface WorkerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** When present (pino), the worker logs through a child carrying its `workerId` and `queue`. */
  child?(bindings: Record<string, unknown>): WorkerLogger;
}

export const silentLogger: WorkerLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
