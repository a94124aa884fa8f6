/**
 * The SDK's errors. Every error the conductor answers carries its `extensions.code` (the API's
 * public contract) as `code`; transport failures are `UNAVAILABLE` or `TIMEOUT`. `retryable`
 * says whether sending the same request again later may succeed.
 */

/** Codes the conductor answers with, plus the SDK's own transport codes. Open-ended on purpose. */
export type ConductorErrorCode =
  | 'LEASE_LOST'
  | 'RUN_CANCELLED'
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INTERNAL_SERVER_ERROR'
  /** The conductor could not be reached, or answered 5xx / 429 / something that is not GraphQL. */
  | 'UNAVAILABLE'
  /** No answer within the request timeout. */
  | 'TIMEOUT'
  /** The URL answered something that is not GraphQL (a wrong path or port). */
  | 'BAD_RESPONSE'
  | (string & {});

export class ConductorError extends Error {
  readonly code: ConductorErrorCode;
  /** `extensions` of the GraphQL error (without `code`), or transport details. */
  readonly data: Readonly<Record<string, unknown>>;
  /** Sending the same request later may succeed (the conductor was down, restarting, overloaded). */
  readonly retryable: boolean;

  constructor(code: ConductorErrorCode, message: string, opts: { data?: Record<string, unknown>; retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.data = opts.data ?? {};
    this.retryable = opts.retryable ?? false;
  }
}

/**
 * The conductor could not be reached or is not serving (ECONNREFUSED, 502/503/504, a timeout), or
 * answered UNAVAILABLE itself (its database or Redis is down: nothing was recorded, try again).
 */
export class ConductorUnavailableError extends ConductorError {
  /** HTTP status, when there was an answer. */
  readonly status: number | undefined;
  /** How long the conductor asked to wait before trying again, when it said. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, opts: { status?: number; code?: 'UNAVAILABLE' | 'TIMEOUT'; cause?: unknown; retryAfterMs?: number } = {}) {
    const data: Record<string, unknown> = {};
    if (opts.status !== undefined) data['status'] = opts.status;
    if (opts.retryAfterMs !== undefined) data['retryAfterMs'] = opts.retryAfterMs;
    super(opts.code ?? 'UNAVAILABLE', message, { retryable: true, cause: opts.cause, data });
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * Another attempt holds the task now (the lease expired and the task was reclaimed, or the token
 * was superseded). The attempt must be abandoned: its result would be refused.
 */
export class LeaseLostError extends ConductorError {
  declare readonly code: 'LEASE_LOST';
  constructor(
    readonly taskId: string,
    readonly leaseToken: string,
    message = `The lease on task ${taskId} (token ${leaseToken}) is no longer held`,
  ) {
    super('LEASE_LOST', message, { data: { taskId, leaseToken } });
  }
}

/** The task's run was cancelled (or failed, or timed out) while the attempt ran. Abandon it. */
export class RunCancelledError extends ConductorError {
  declare readonly code: 'RUN_CANCELLED';
  constructor(
    readonly taskId: string,
    readonly runId: string | undefined,
    message = `The run of task ${taskId} was cancelled`,
  ) {
    super('RUN_CANCELLED', message, { data: { taskId, runId } });
  }
}

/**
 * Throw it from a handler to fail the task at once, whatever the step's retry policy says (a bad
 * input will not get better by retrying). Any other error is reported as retryable.
 */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/** Ends an attempt's lease-bound work: the attempt no longer owns its task. */
export type LeaseEndedError = LeaseLostError | RunCancelledError;

export function isLeaseEnded(e: unknown): e is LeaseEndedError {
  return e instanceof LeaseLostError || e instanceof RunCancelledError;
}

/** The worker is stopping and its grace period ran out: the attempt is given back unfinished. */
export class WorkerStoppingError extends Error {
  constructor(message = 'The worker is stopping: the attempt was released unfinished') {
    super(message);
    this.name = 'WorkerStoppingError';
  }
}

/** Turns anything thrown into an Error without losing what it was. */
export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e);
  try {
    return new Error(JSON.stringify(e));
  } catch {
    return new Error(String(e));
  }
}

/** Any failure as a ConductorError: ours as they are, anything else as a non-retryable internal error. */
export function asConductorError(e: unknown): ConductorError {
  if (e instanceof ConductorError) return e;
  const err = toError(e);
  return new ConductorError('INTERNAL_SERVER_ERROR', err.message, { cause: err, retryable: false });
}
