import { z } from 'zod';

/**
 * Every environment variable the conductor reads. Nothing else in the code base reads
 * `process.env`; the Helm chart and the docs list exactly these.
 */
export const ENV_VARS = [
  'NODE_ENV',
  'HOST',
  'PORT',
  'LOG_LEVEL',
  'DATABASE_URL',
  'DATABASE_POOL_SIZE',
  'MAESTRO_DATA_DIR',
  'REDIS_URL',
  'REDIS_KEY_PREFIX',
  'SHUTDOWN_GRACE_MS',
  'SCHEDULER_POLL_INTERVAL_MS',
  'DISPATCH_CONCURRENCY',
  'HTTP_STEP_DEFAULT_TIMEOUT_MS',
  'LEASE_TTL_MS',
  'REAPER_INTERVAL_MS',
  'ORPHAN_SWEEP_INTERVAL_MS',
  'PLAYGROUND_ENABLED',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_SERVICE_NAME',
  // Transports: request sizes, WebSocket caps, browser access, rate limits (docs/LIMITS.md).
  'REQUEST_BODY_MAX_BYTES',
  'WS_INIT_TIMEOUT_MS',
  'WS_MAX_SUBSCRIPTIONS_PER_CONNECTION',
  'WS_MAX_CONNECTIONS_PER_KEY',
  'CORS_ORIGINS',
  'ALLOWED_HOSTS',
  'TRUST_PROXY',
  'RATE_LIMIT_PER_KEY',
  'RATE_LIMIT_PER_TENANT',
  'AUTH_FAILURES_PER_IP',
  'LONG_POLLS_PER_TENANT',
] as const;
export type EnvVarName = (typeof ENV_VARS)[number];
/** Variables that may carry credentials: never echoed in errors; the Helm chart keeps them in a Secret. */
export const SECRET_VARS: ReadonlySet<EnvVarName> = new Set<EnvVarName>(['DATABASE_URL', 'REDIS_URL']);
export type Env = Partial<Record<EnvVarName, string | undefined>>;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

/** `scheme://host[:port]` as browsers send it in `Origin`, or `*`. */
const ORIGIN = /^(\*|https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?)$/;
/** A host name or address as it appears in `Host` (without the port), or `*`. */
const HOST_NAME = /^(\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/;
const list = (item: RegExp, message: string) =>
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .refine((items) => items.every((i) => item.test(i)), { message });

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  MAESTRO_DATA_DIR: z.string().min(1).default('.maestro/data'),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{0,64}$/, { message: 'up to 64 letters, digits, ":", "_", "." or "-"' })
    .default('maestro:'),
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
  SCHEDULER_POLL_INTERVAL_MS: int(10, 60_000).default(1_000),
  DISPATCH_CONCURRENCY: int(1, 10_000).default(64),
  HTTP_STEP_DEFAULT_TIMEOUT_MS: int(1, 600_000).default(30_000),
  LEASE_TTL_MS: int(1_000, 3_600_000).default(30_000),
  REAPER_INTERVAL_MS: int(10, 60_000).default(1_000),
  ORPHAN_SWEEP_INTERVAL_MS: int(100, 600_000).default(15_000),
  PLAYGROUND_ENABLED: bool.optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(128).default('maestro-conductor'),
  REQUEST_BODY_MAX_BYTES: int(1_024, 64 * 1024 * 1024).default(2 * 1024 * 1024),
  WS_INIT_TIMEOUT_MS: int(100, 600_000).default(10_000),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: int(1, 100_000).default(100),
  WS_MAX_CONNECTIONS_PER_KEY: int(1, 1_000_000).default(200),
  CORS_ORIGINS: list(ORIGIN, 'a comma-separated list of origins such as https://app.example.com (scheme://host[:port], no path), or *').default([]),
  ALLOWED_HOSTS: list(HOST_NAME, 'a comma-separated list of host names such as maestro.example.com, or *').default([]),
  TRUST_PROXY: z
    .string()
    .regex(/^([0-9]|(loopback|linklocal|uniquelocal|[0-9A-Fa-f.:]+(\/[0-9]{1,3})?)(\s*,\s*(loopback|linklocal|uniquelocal|[0-9A-Fa-f.:]+(\/[0-9]{1,3})?))*)$/, {
      message: 'a number of proxy hops (0-9) or a comma-separated list of proxy addresses/CIDRs (loopback, linklocal, uniquelocal allowed)',
    })
    .optional(),
  RATE_LIMIT_PER_KEY: int(0, 1_000_000).default(500),
  RATE_LIMIT_PER_TENANT: int(0, 1_000_000).default(1_000),
  AUTH_FAILURES_PER_IP: int(0, 1_000_000).default(100),
  LONG_POLLS_PER_TENANT: int(1, 100_000).default(100),
});

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  /** Requests without an API key act as tenant `default` unless in production. */
  readonly allowAnonymous: boolean;
  /** Interface to listen on. @default 127.0.0.1 (the image and the chart set 0.0.0.0) */
  readonly host: string;
  /** @default 4000; 0 picks a free port (tests). */
  readonly port: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Unset: embedded PGlite under `dataDir`. */
  readonly databaseUrl: string | undefined;
  /** @default 10 */
  readonly databasePoolSize: number;
  /** Where embedded PGlite keeps its files. `memory://` keeps nothing. @default .maestro/data */
  readonly dataDir: string;
  /** Unset: in-process leases and events (one replica only). */
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key and channel, so environments can share one Redis. @default maestro: */
  readonly redisKeyPrefix: string;
  /** How long SIGTERM waits for in-flight work before closing. @default 10000 */
  readonly shutdownGraceMs: number;
  /** Fallback poll for due timers and missed wake-ups; ready tasks wake the dispatcher at once. @default 1000 */
  readonly schedulerPollIntervalMs: number;
  /** Built-in tasks executing at once in this replica. @default 64 */
  readonly dispatchConcurrency: number;
  /** Timeout of an `http` step that sets none. @default 30000 */
  readonly httpStepDefaultTimeoutMs: number;
  /**
   * Lease of an attempt when the worker asks for none, and of built-in attempts (renewed every
   * third of it). A dead holder's task is reclaimed within this plus one reaper interval. @default 30000
   */
  readonly leaseTtlMs: number;
  /** How often each replica looks for expired leases. @default 1000 */
  readonly reaperIntervalMs: number;
  /** How often each replica looks for running attempts that lost their lease entirely (Redis flushed). @default 15000 */
  readonly orphanSweepIntervalMs: number;
  /** Serve GraphQL Playground at /graphql. @default true outside production */
  readonly playgroundEnabled: boolean;
  /** OTLP/HTTP collector base URL (traces go to `<it>/v1/traces`); unset: tracing off. */
  readonly otlpEndpoint: string | undefined;
  /** @default maestro-conductor */
  readonly serviceName: string;

  // Transports (docs/LIMITS.md "Transports").
  /** Largest HTTP request body, and largest WebSocket message (`maxPayload`), in bytes. @default 2097152 (2 MiB) */
  readonly requestBodyMaxBytes: number;
  /** A WebSocket that sends no `connection_init` within this is closed (both protocols). @default 10000 */
  readonly wsInitTimeoutMs: number;
  /** Operations open at once on one WebSocket; more are refused with LIMIT_EXCEEDED. @default 100 */
  readonly wsMaxSubscriptionsPerConnection: number;
  /** WebSockets one API key (or the anonymous development tenant) holds open on one replica. @default 200 */
  readonly wsMaxConnectionsPerKey: number;
  /**
   * Browser origins allowed cross-origin (CORS on HTTP, `Origin` on WebSocket upgrades); `*` allows
   * any. Same-origin pages (Playground) and clients that send no `Origin` are always allowed. @default none
   */
  readonly corsOrigins: readonly string[];
  /**
   * Host names the server answers to (`Host` header; DNS rebinding). Outside production localhost,
   * 127.0.0.1 and [::1] are always allowed and nothing else unless listed; in production no check
   * unless set. `*` turns the check off. @default none
   */
  readonly allowedHosts: readonly string[];
  /**
   * Proxies whose `X-Forwarded-For` names the client (the per-IP failed-authentication limit keys
   * on it): a hop count or addresses/CIDRs (Express `trust proxy`). @default unset: the socket's peer
   */
  readonly trustProxy: number | string | undefined;
  /** Requests (HTTP operations and WebSocket operations) per second per API key; 0: no limit. @default 500 */
  readonly rateLimitPerKey: number;
  /** Requests per second per tenant over all its keys; 0: no limit. @default 1000 */
  readonly rateLimitPerTenant: number;
  /** Failed authentications per client IP per minute before that IP's unknown keys are refused unchecked; 0: no limit. @default 100 */
  readonly authFailuresPerIp: number;
  /** `claimTasks` long polls (`waitMs` > 0) one tenant holds open at once on one replica. @default 100 */
  readonly longPollsPerTenant: number;
}

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; expected: string; received: string | undefined }[]) {
    super(
      issues
        .map((i) => `Invalid configuration: ${i.variable} must be ${i.expected} (got ${i.received === undefined ? 'nothing' : JSON.stringify(i.received)})`)
        .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'string' ? `at least ${String(issue.minimum)} characters` : `a number >= ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'string' ? `at most ${String(issue.maximum)} characters` : `a number <= ${String(issue.maximum)}`;
    case 'invalid_type':
      return issue.expected === 'number' || issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`;
    case 'custom':
      return issue.message;
    default:
      return issue.message;
  }
}

/**
 * What production needs beyond valid values. Without DATABASE_URL every process keeps its own
 * embedded database, so replicas of a Deployment would silently split the data between pods: in
 * production that is allowed only when MAESTRO_DATA_DIR is set, the deliberate choice of one node
 * on embedded storage. A shared database in turn needs shared leases and events (REDIS_URL), or
 * replicas would reclaim each other's tasks and miss each other's events.
 */
function productionRequirements(raw: Record<string, string | undefined>): { variable: string; expected: string }[] {
  if (raw['NODE_ENV'] !== 'production') return [];
  if (raw['DATABASE_URL'] === undefined) {
    return raw['MAESTRO_DATA_DIR'] === undefined
      ? [
          {
            variable: 'DATABASE_URL',
            expected: 'set when NODE_ENV=production (a postgres:// URL; or set MAESTRO_DATA_DIR to run a single replica on embedded storage)',
          },
        ]
      : [];
  }
  return raw['REDIS_URL'] === undefined
    ? [{ variable: 'REDIS_URL', expected: 'set when NODE_ENV=production and DATABASE_URL is set (replicas sharing a database need shared leases and events)' }]
    : [];
}

/** Parses and validates the environment into one frozen Config; throws ConfigError naming each bad variable. */
export function loadConfig(env: Env = process.env as Env): Config {
  const raw: Record<string, string | undefined> = {};
  for (const name of ENV_VARS) {
    const value = env[name];
    raw[name] = value === '' ? undefined : value;
  }
  const parsed = schema.safeParse(raw);
  const issues = [
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => ({ variable: String(issue.path[0]), expected: describe(issue) }))),
    ...productionRequirements(raw),
  ].map(({ variable, expected }) => ({
    variable,
    expected,
    // Connection strings carry passwords: name the variable, never echo its value.
    received: SECRET_VARS.has(variable as EnvVarName) && raw[variable] !== undefined ? '<hidden>' : raw[variable],
  }));
  if (!parsed.success || issues.length) throw new ConfigError(issues);
  const v = parsed.data;
  return Object.freeze({
    env: v.NODE_ENV,
    allowAnonymous: v.NODE_ENV !== 'production',
    host: v.HOST,
    port: v.PORT,
    logLevel: v.LOG_LEVEL,
    databaseUrl: v.DATABASE_URL,
    databasePoolSize: v.DATABASE_POOL_SIZE,
    dataDir: v.MAESTRO_DATA_DIR,
    redisUrl: v.REDIS_URL,
    redisKeyPrefix: v.REDIS_KEY_PREFIX,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    schedulerPollIntervalMs: v.SCHEDULER_POLL_INTERVAL_MS,
    dispatchConcurrency: v.DISPATCH_CONCURRENCY,
    httpStepDefaultTimeoutMs: v.HTTP_STEP_DEFAULT_TIMEOUT_MS,
    leaseTtlMs: v.LEASE_TTL_MS,
    reaperIntervalMs: v.REAPER_INTERVAL_MS,
    orphanSweepIntervalMs: v.ORPHAN_SWEEP_INTERVAL_MS,
    playgroundEnabled: v.PLAYGROUND_ENABLED ?? v.NODE_ENV !== 'production',
    otlpEndpoint: v.OTEL_EXPORTER_OTLP_ENDPOINT,
    serviceName: v.OTEL_SERVICE_NAME,
    requestBodyMaxBytes: v.REQUEST_BODY_MAX_BYTES,
    wsInitTimeoutMs: v.WS_INIT_TIMEOUT_MS,
    wsMaxSubscriptionsPerConnection: v.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
    wsMaxConnectionsPerKey: v.WS_MAX_CONNECTIONS_PER_KEY,
    corsOrigins: Object.freeze(v.CORS_ORIGINS),
    allowedHosts: Object.freeze(v.ALLOWED_HOSTS),
    trustProxy: v.TRUST_PROXY === undefined ? undefined : /^[0-9]$/.test(v.TRUST_PROXY) ? Number(v.TRUST_PROXY) : v.TRUST_PROXY,
    rateLimitPerKey: v.RATE_LIMIT_PER_KEY,
    rateLimitPerTenant: v.RATE_LIMIT_PER_TENANT,
    authFailuresPerIp: v.AUTH_FAILURES_PER_IP,
    longPollsPerTenant: v.LONG_POLLS_PER_TENANT,
  });
}
