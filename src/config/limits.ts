import type { Config } from './index';

/**
 * Every limit the conductor enforces, in one place. Each is enforced before the work it bounds is
 * done, and a refusal is a `LimitExceededError` (`LIMIT_EXCEEDED`, with the limit's name and value)
 * that changes nothing. `docs/LIMITS.md` lists them with their defaults and how to raise them.
 * Areas add their fields under their own heading.
 */
export interface Limits {
  // Transports: request sizes, WebSocket caps, request rates (docs/LIMITS.md "Transports").
  /** Largest HTTP body and WebSocket message, bytes (REQUEST_BODY_MAX_BYTES). */
  readonly requestBodyMaxBytes: number;
  /** A WebSocket without `connection_init` by then is closed (WS_INIT_TIMEOUT_MS). */
  readonly wsInitTimeoutMs: number;
  /** Operations open at once on one WebSocket (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION). */
  readonly wsMaxSubscriptionsPerConnection: number;
  /** WebSockets per API key per replica (WS_MAX_CONNECTIONS_PER_KEY). */
  readonly wsMaxConnectionsPerKey: number;
  /** Requests per second per API key, 0 = off (RATE_LIMIT_PER_KEY). */
  readonly rateLimitPerKey: number;
  /** Requests per second per tenant, 0 = off (RATE_LIMIT_PER_TENANT). */
  readonly rateLimitPerTenant: number;
  /** Failed authentications per client IP per minute, 0 = off (AUTH_FAILURES_PER_IP). */
  readonly authFailuresPerIp: number;
  /** Concurrent `claimTasks` long polls per tenant per replica (LONG_POLLS_PER_TENANT). */
  readonly longPollsPerTenant: number;
}

/** The limits of a configuration. */
export function limitsFromConfig(config: Config): Limits {
  return Object.freeze({
    // Transports
    requestBodyMaxBytes: config.requestBodyMaxBytes,
    wsInitTimeoutMs: config.wsInitTimeoutMs,
    wsMaxSubscriptionsPerConnection: config.wsMaxSubscriptionsPerConnection,
    wsMaxConnectionsPerKey: config.wsMaxConnectionsPerKey,
    rateLimitPerKey: config.rateLimitPerKey,
    rateLimitPerTenant: config.rateLimitPerTenant,
    authFailuresPerIp: config.authFailuresPerIp,
    longPollsPerTenant: config.longPollsPerTenant,
  });
}
