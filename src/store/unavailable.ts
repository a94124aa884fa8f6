import { DomainError, UnavailableError } from '../domain/errors';

/**
 * Faults of a dependency, not of the request: the database (or Redis) is unreachable, restarting
 * or shutting down. Recognised by code first (the driver's and the server's), then by the few
 * messages `pg`, `pg-pool` and `ioredis` raise without one.
 */

/** How long a client should wait before trying again: about how long a Postgres restart takes. */
export const UNAVAILABLE_RETRY_AFTER_MS = 1_000;

/** Socket errors of an unreachable host or a dropped connection. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * SQLSTATEs of a server going away or not ready (class 08 connection exception; 57P01
 * admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now).
 */
const SERVER_STATES = new Set(['57P01', '57P02', '57P03']);

/** Messages without a code: pg's dropped socket, pg-pool's connection timeout, ioredis with its connection down. */
const MESSAGES: [RegExp, string][] = [
  [/^Connection terminated due to connection timeout/, 'POOL_TIMEOUT'], // pg-pool
  [/^Connection terminated/, 'CONNECTION_LOST'], // pg: "Connection terminated unexpectedly"
  [/^timeout exceeded when trying to connect$/, 'POOL_TIMEOUT'], // pg-pool: no connection within connectionTimeoutMillis
  [/is not queryable$/, 'CONNECTION_LOST'], // pg: "Client has encountered a connection error and is not queryable"
  [/^Connection is closed\.$/, 'CONNECTION_LOST'], // ioredis
  [/^Reached the max retries per request limit/, 'CONNECTION_LOST'], // ioredis MaxRetriesPerRequestError
  [/^Stream isn't writeable and enableOfflineQueue options is false$/, 'CONNECTION_LOST'], // ioredis
];

function codesOf(e: unknown): string[] {
  const out: string[] = [];
  // TypeORM wraps the driver's error (driverError); Node's fetch and pg-pool wrap theirs (cause);
  // an AggregateError (net.connect trying ::1 then 127.0.0.1) holds several.
  const seen = new Set<unknown>();
  const visit = (x: unknown, depth: number) => {
    if (!x || typeof x !== 'object' || seen.has(x) || depth > 4) return;
    seen.add(x);
    const { code, driverError, cause, errors } = x as { code?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string') out.push(code);
    visit(driverError, depth + 1);
    visit(cause, depth + 1);
    if (Array.isArray(errors)) for (const inner of errors) visit(inner, depth + 1);
  };
  visit(e, 0);
  return out;
}

function messagesOf(e: unknown): string[] {
  const out: string[] = [];
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 4; depth++) {
    out.push(x.message);
    x = (x as { driverError?: unknown }).driverError ?? x.cause;
  }
  return out;
}

/**
 * What made `e` a dependency fault, as a token safe to show a caller (`ECONNREFUSED`, `57P01`,
 * `CONNECTION_LOST`, `POOL_TIMEOUT`; never the driver's text, which may hold hosts and
 * credentials), or null when it is not one.
 */
export function unavailableCause(e: unknown): string | null {
  if (e instanceof DomainError) return null;
  for (const code of codesOf(e)) {
    if (NETWORK_CODES.has(code) || SERVER_STATES.has(code) || code.startsWith('08')) return code;
  }
  for (const message of messagesOf(e)) {
    const hit = MESSAGES.find(([m]) => m.test(message));
    if (hit) return hit[1];
  }
  return null;
}

/**
 * `e` as the typed, retryable UNAVAILABLE error when it is a dependency fault, else `e` as it was.
 * `what` names the dependency for the message ("the database").
 */
export function asUnavailable(e: unknown, what = 'the database'): unknown {
  const cause = unavailableCause(e);
  if (cause === null) return e;
  return new UnavailableError(`${what} is unavailable (${cause}); retry after ${UNAVAILABLE_RETRY_AFTER_MS} ms`, {
    retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS,
    reason: cause,
  });
}
