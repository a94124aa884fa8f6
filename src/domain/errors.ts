/**
 * Domain errors. Each carries a stable `code` (the public contract, surfaced as GraphQL
 * `extensions.code`) and data a client can act on. `graphql/errors.ts` maps them once.
 */
export type DomainErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'CONFLICT'
  | 'LEASE_LOST'
  | 'RUN_CANCELLED'
  | 'LIMIT_EXCEEDED'
  | 'QUOTA_EXCEEDED'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE';

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
  readonly data: Record<string, unknown>;
  constructor(message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.data = data;
  }
}

/** The caller sent something invalid; the message says what to fix. */
export class ValidationError extends DomainError {
  readonly code = 'BAD_USER_INPUT' as const;
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND' as const;
  constructor(what: string, id: string) {
    super(`${what} "${id}" was not found`, { what, id });
  }
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED' as const;
}

/** The caller is known but may not do this (e.g. API-key management without an admin key); the message says what is needed. */
export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN' as const;
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT' as const;
}

export class LeaseLostError extends DomainError {
  readonly code = 'LEASE_LOST' as const;
  constructor(taskId: string, fence: string) {
    super(`The lease on task ${taskId} with token ${fence} is no longer held`, { taskId, token: fence });
  }
}

export class RunCancelledError extends DomainError {
  readonly code = 'RUN_CANCELLED' as const;
  /** @param runStatus how the run ended: a run that FAILED or timed out cancels its unfinished tasks too. */
  constructor(runId: string, taskId?: string, runStatus: string = 'CANCELLED') {
    super(runStatus === 'CANCELLED' ? `Run ${runId} was cancelled` : `Run ${runId} ended ${runStatus}: its unfinished tasks were cancelled`, {
      runId,
      taskId,
      runStatus,
    });
  }
}

/**
 * A request or a step went over one of the configured limits (size, depth, count, cost). Nothing
 * was changed. `limit` names the limit (its config variable in `docs/LIMITS.md`), `max` is its
 * value and `actual` what was asked for, when known.
 */
export class LimitExceededError extends DomainError {
  readonly code = 'LIMIT_EXCEEDED' as const;
  constructor(message: string, data: { limit: string; max: number; actual?: number } & Record<string, unknown>) {
    super(message, data);
  }
}

/** The tenant holds as much of a shared resource as it may (runs in flight, queued tasks); retry later. */
export class QuotaExceededError extends DomainError {
  readonly code = 'QUOTA_EXCEEDED' as const;
  constructor(message: string, data: { quota: string; max: number } & Record<string, unknown>) {
    super(message, data);
  }
}

/**
 * Too many requests from one key or tenant; `retryAfterMs` says when to try again. Made by the
 * thousand while a tenant floods, and an answer rather than a fault (nothing logs it): it captures
 * no stack trace, so refusing costs less than serving.
 */
export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED' as const;
  constructor(message: string, data: { retryAfterMs: number } & Record<string, unknown>) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, data);
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** A dependency (the database, Redis) is unreachable for now; nothing was changed and the request may be retried. */
export class UnavailableError extends DomainError {
  readonly code = 'UNAVAILABLE' as const;
  constructor(message: string, data: { retryAfterMs?: number } & Record<string, unknown> = {}) {
    super(message, data);
  }
}

/** A step input template could not be resolved (missing path, bad syntax). */
export class TemplateError extends ValidationError {}

/** Turns anything thrown into an Error without losing what it was. */
export function coerceError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e);
  try {
    return new Error(JSON.stringify(e));
  } catch {
    return new Error(String(e));
  }
}
