import type { ConductorError } from './errors';
import type { Json } from './types';

/** Names the attempt an event is about. */
export interface AttemptInfo {
  taskId: string;
  runId: string;
  key: string;
  type: string;
  attempt: number;
  leaseToken: string;
  workerId: string;
}

/** Why an attempt no longer owns its task. */
export type LeaseEndCode = 'LEASE_LOST' | 'RUN_CANCELLED';

/** Which call heard that the lease had ended. */
export type LeaseLostDuring = 'heartbeat' | 'complete' | 'fail' | 'release';

/**
 * What a Worker emits (`worker.on('task:done', …)`), named for when it fires. Metrics, logs and
 * tests subscribe; the worker logs each of them itself through its `logger`.
 */
export type WorkerEvents = {
  /** A claim returned tasks. */
  'tasks:claimed': [{ count: number; max: number }];
  /** The handler was called. */
  'task:start': [AttemptInfo];
  /** The conductor recorded the handler's output. */
  'task:done': [AttemptInfo & { output: Json; durationMs: number }];
  /** The conductor recorded the handler's failure (`retryable`: the step's retry policy applies). */
  'task:failed': [AttemptInfo & { error: string; retryable: boolean; durationMs: number }];
  /** A stopping worker gave the task back unfinished (not counted as an attempt). */
  'task:released': [AttemptInfo];
  /**
   * The attempt ended without its result being recorded: lease lost, run cancelled, worker
   * stopped, the result refused (`REPORT_FAILED`), or the conductor unavailable until the lease
   * would have lapsed (`LEASE_LAPSED`: the conductor reclaims the task when it is back).
   */
  'task:abandoned': [AttemptInfo & { reason: LeaseEndCode | 'STOPPING' | 'REPORT_FAILED' | 'LEASE_LAPSED' }];
  /** A heartbeat extended the lease. */
  'lease:renewed': [AttemptInfo & { leaseExpiresAt: Date }];
  /**
   * The conductor said the attempt no longer owns its task: another attempt holds it
   * (`LEASE_LOST`), or its run was cancelled (`RUN_CANCELLED`). The handler's signal is aborted and
   * nothing more is reported for the attempt.
   */
  'lease:lost': [AttemptInfo & { code: LeaseEndCode; during: LeaseLostDuring; message: string }];
  /** The first failed request to an unreachable conductor; requests are retried with backoff. */
  'connection:lost': [{ error: ConductorError }];
  /** The conductor answers again. */
  'connection:restored': [{ downMs: number }];
  /** Something went wrong that the worker cannot fix by retrying (bad API key, bad queue name…). Emitted only when listened to. */
  error: [Error];
  /** `stop()` finished: nothing in flight any more. */
  stopped: [];
};
