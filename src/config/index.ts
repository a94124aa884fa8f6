import { z } from 'zod';
import { LOOPBACK_ALLOW, parseHostList, parsePorts, type HostList } from '../executors/http-policy';
import { bool, ConfigError, describe, HOST_NAME, hostList, int, list, MIB, ORIGIN, url } from './values';

export { ConfigError } from './values';

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
  'DATABASE_CONNECT_TIMEOUT_MS',
  'MAESTRO_DATA_DIR',
  'REDIS_URL',
  'REDIS_KEY_PREFIX',
  'SHUTDOWN_GRACE_MS',
  'SCHEDULER_POLL_INTERVAL_MS',
  'DISPATCH_CONCURRENCY',
  'HTTP_STEP_DEFAULT_TIMEOUT_MS',
  'HTTP_STEP_MAX_TIMEOUT_MS',
  'HTTP_STEP_MAX_RESPONSE_BYTES',
  'HTTP_STEP_MAX_REQUEST_BYTES',
  'HTTP_STEP_MAX_REDIRECTS',
  'HTTP_STEP_ALLOW',
  'HTTP_STEP_DENY',
  'HTTP_STEP_PORTS',
  'HTTP_STEP_TENANT_CONCURRENCY',
  'DISPATCH_TENANT_CONCURRENCY',
  'TENANT_MAX_ACTIVE_RUNS',
  'TENANT_MAX_QUEUED_TASKS',
  'CANCEL_RUNS_MAX',
  'TENANT_MAX_SCHEDULES',
  'SCHEDULE_BACKFILL_MAX',
  'LEASE_TTL_MS',
  'NO_WORKER_AFTER_MS',
  'REAPER_INTERVAL_MS',
  'ORPHAN_SWEEP_INTERVAL_MS',
  'PLAYGROUND_ENABLED',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_SERVICE_NAME',
  'METRICS_PORT',
  'METRICS_LABEL_VALUES_MAX',
  'STARTUP_WAIT_MS',
  'READINESS_TIMEOUT_MS',
  'GRAPHQL_MAX_COST',
  'GRAPHQL_MAX_DEPTH',
  'GRAPHQL_MAX_ALIASES',
  'GRAPHQL_MAX_TOKENS',
  'GRAPHQL_MAX_DIRECTIVES',
  'GRAPHQL_MAX_RESPONSE_BYTES',
  'GRAPHQL_INTROSPECTION',
  'DATABASE_STATEMENT_TIMEOUT_MS',
  // data sizes (docs/LIMITS.md)
  'MAX_JSON_DEPTH',
  'MAX_INPUT_BYTES',
  'MAX_OUTPUT_BYTES',
  'MAX_DEFINITION_BYTES',
  'MAX_STEPS_PER_WORKFLOW',
  'MAX_WORKFLOW_DEPTH',
  'MAX_TEMPLATE_STRING_BYTES',
  'MAX_TEMPLATE_TASK_BYTES',
  'MAX_FOREACH_ITEMS',
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
  // Events and webhooks (README "Events and webhooks").
  'WEBHOOK_REPLAY_WINDOW_MS',
  'EVENT_RETENTION_MS',
  // Priorities (README "Rate limits and priorities").
  'PRIORITY_AGING_MS',
  'RATE_LIMIT_COST_PER_TENANT',
  'TENANT_MAX_EXECUTING_COST',
] as const;
export type EnvVarName = (typeof ENV_VARS)[number];
/** Variables that may carry credentials: never echoed in errors; the Helm chart keeps them in a Secret. */
export const SECRET_VARS: ReadonlySet<EnvVarName> = new Set<EnvVarName>(['DATABASE_URL', 'REDIS_URL']);
export type Env = Partial<Record<EnvVarName, string | undefined>>;

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  DATABASE_CONNECT_TIMEOUT_MS: int(100, 120_000).default(5_000),
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
  HTTP_STEP_MAX_TIMEOUT_MS: int(1, 3_600_000).default(300_000),
  HTTP_STEP_MAX_RESPONSE_BYTES: int(1, 1024 * 1024 * 1024).default(1024 * 1024),
  HTTP_STEP_MAX_REQUEST_BYTES: int(1, 1024 * 1024 * 1024).default(1024 * 1024),
  HTTP_STEP_MAX_REDIRECTS: int(0, 20).default(5),
  HTTP_STEP_ALLOW: hostList.optional(),
  HTTP_STEP_DENY: hostList.optional(),
  HTTP_STEP_PORTS: z
    .string()
    .refine(
      (v) => {
        try {
          parsePorts(v);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'a comma-separated list of ports and ranges, like 80,443,8000-8999' },
    )
    .optional(),
  HTTP_STEP_TENANT_CONCURRENCY: int(1, 10_000).optional(),
  DISPATCH_TENANT_CONCURRENCY: int(1, 10_000).optional(),
  TENANT_MAX_ACTIVE_RUNS: int(1, 100_000_000).default(10_000),
  TENANT_MAX_QUEUED_TASKS: int(1, 100_000_000).default(100_000),
  CANCEL_RUNS_MAX: int(1, 100_000).default(1_000),
  TENANT_MAX_SCHEDULES: int(1, 1_000_000).default(1_000),
  SCHEDULE_BACKFILL_MAX: int(1, 100_000).default(1_000),
  LEASE_TTL_MS: int(1_000, 3_600_000).default(30_000),
  NO_WORKER_AFTER_MS: int(1_000, 86_400_000).default(30_000),
  REAPER_INTERVAL_MS: int(10, 60_000).default(1_000),
  ORPHAN_SWEEP_INTERVAL_MS: int(100, 600_000).default(15_000),
  PLAYGROUND_ENABLED: bool.optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(128).default('maestro-conductor'),
  METRICS_PORT: int(0, 65535).default(9464),
  METRICS_LABEL_VALUES_MAX: int(1, 10_000).default(100),
  STARTUP_WAIT_MS: int(0, 3_600_000).default(0),
  READINESS_TIMEOUT_MS: int(50, 60_000).default(500),
  GRAPHQL_MAX_COST: int(1, 10_000_000).default(20_000),
  GRAPHQL_MAX_DEPTH: int(1, 1_000).default(10),
  GRAPHQL_MAX_ALIASES: int(0, 10_000).default(15),
  GRAPHQL_MAX_TOKENS: int(100, 1_000_000).default(2_000),
  GRAPHQL_MAX_DIRECTIVES: int(0, 10_000).default(50),
  GRAPHQL_MAX_RESPONSE_BYTES: int(1_024, 1_073_741_824).default(16 * 1024 * 1024),
  GRAPHQL_INTROSPECTION: bool.optional(),
  DATABASE_STATEMENT_TIMEOUT_MS: int(0, 3_600_000).default(15_000),
  // data sizes: the upper bounds keep a misconfiguration from re-opening the holes they close
  MAX_JSON_DEPTH: int(2, 1_000).default(64),
  MAX_INPUT_BYTES: int(1_024, 64 * MIB).default(MIB),
  MAX_OUTPUT_BYTES: int(1_024, 64 * MIB).default(MIB),
  MAX_DEFINITION_BYTES: int(1_024, 64 * MIB).default(MIB),
  MAX_STEPS_PER_WORKFLOW: int(1, 1_000).default(256),
  MAX_WORKFLOW_DEPTH: int(1, 1_000).default(16),
  MAX_TEMPLATE_STRING_BYTES: int(1_024, 64 * MIB).default(MIB),
  MAX_TEMPLATE_TASK_BYTES: int(1_024, 256 * MIB).default(4 * MIB),
  MAX_FOREACH_ITEMS: int(1, 1_000_000).default(10_000),
  PRIORITY_AGING_MS: int(1, 86_400_000).default(60_000),
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
  WEBHOOK_REPLAY_WINDOW_MS: int(1_000, 86_400_000).default(300_000),
  EVENT_RETENTION_MS: int(3_600_000, 31_536_000_000).default(604_800_000),
  RATE_LIMIT_COST_PER_TENANT: int(0, 100_000_000).default(100_000),
  TENANT_MAX_EXECUTING_COST: int(0, 100_000_000).optional(),
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
  /**
   * Longest wait for a database connection (a new one, or a free one of the pool). Past it the
   * request answers UNAVAILABLE (HTTP 503, retryable) instead of hanging while Postgres is down.
   * @default 5000
   */
  readonly databaseConnectTimeoutMs: number;
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
  /** Longest `timeoutMs` an `http` step may set; a longer one is refused at registerWorkflow (LIMIT_EXCEEDED). @default 300000 (5 min) */
  readonly httpStepMaxTimeoutMs: number;
  /** An `http` step whose response is larger fails at once (read as a stream, aborted past it). @default 1048576 (1 MiB) */
  readonly httpStepMaxResponseBytes: number;
  /** An `http` step whose request body is larger fails at once, before sending. @default 1048576 (1 MiB) */
  readonly httpStepMaxRequestBytes: number;
  /** Redirects an `http` step follows, each checked against the destination policy. @default 5 */
  readonly httpStepMaxRedirects: number;
  /**
   * Destinations `http` steps may reach beyond public addresses: CIDRs and host names
   * (`HTTP_STEP_ALLOW=10.1.0.0/16,billing.internal`; `none`: nothing).
   * @default loopback (127.0.0.0/8, ::1) in development and test; nothing in production
   */
  readonly httpStepAllow: HostList;
  /** Destinations `http` steps may never reach, whatever the allow-list says (CIDRs and host names). @default none */
  readonly httpStepDeny: HostList;
  /** The only ports `http` steps may reach (`80,443,8000-8999`); null: any. @default any */
  readonly httpStepPorts: readonly (readonly [number, number])[] | null;
  /** `http` steps of one tenant executing at once in this replica; the rest wait queued. @default a quarter of DISPATCH_CONCURRENCY (16 of 64) */
  readonly httpStepTenantConcurrency: number;
  /** Built-in steps of one tenant executing at once in this replica: its share of DISPATCH_CONCURRENCY. @default DISPATCH_CONCURRENCY: only http steps hold a slot for long, and they have their own share; a share of 48 of 64 drained 4,000 one-step runs of one tenant in 16.5 s instead of 11.1 s */
  readonly dispatchTenantConcurrency: number;
  /** Runs of one tenant PENDING or RUNNING at once; startRun beyond it answers QUOTA_EXCEEDED. @default 10000 */
  readonly tenantMaxActiveRuns: number;
  /** Tasks of one tenant QUEUED at once; startRun beyond it answers QUOTA_EXCEEDED. @default 100000 */
  readonly tenantMaxQueuedTasks: number;
  /** Schedules one tenant may have; createSchedule beyond it answers LIMIT_EXCEEDED. @default 1000 */
  readonly tenantMaxSchedules: number;
  /** Fire times one backfillSchedule call may start; a longer range answers LIMIT_EXCEEDED. @default 1000 */
  readonly scheduleBackfillMax: number;
  /** Runs one `cancelRuns` call cancels at most; the caller repeats it for more. @default 1000 */
  readonly cancelRunsMax: number;
  /**
   * Lease of an attempt when the worker asks for none, and of built-in attempts (renewed every
   * third of it). A dead holder's task is reclaimed within this plus one reaper interval. @default 30000
   */
  readonly leaseTtlMs: number;
  /** `waitingFor` says NO_WORKER for a queued task whose queue no worker polled for this long. @default 30000 */
  readonly noWorkerAfterMs: number;
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
  /**
   * Port of the metrics server (`GET /metrics`), bound on `host` like the API but a listener of
   * its own, so the API port (the one exposed to tenants) never serves metrics. 0 picks a free
   * port (tests). Must differ from `port`. @default 9464
   */
  readonly metricsPort: number;
  /**
   * Distinct values a tenant-chosen metric label (`workflow`, `queue`) takes per replica; later
   * values are reported as `__other__`, so 300 new workflow names cannot grow a scrape tenfold.
   * @default 100
   */
  readonly metricsLabelValuesMax: number;
  /**
   * How long start-up keeps retrying Postgres and Redis (with backoff) before it gives up and exits
   * 1; meanwhile `/healthz` answers 200 and `/readyz` 503. 0 exits at the first failure. @default 0
   */
  readonly startupWaitMs: number;
  /** Each `/readyz` dependency check gets this long before it counts as failing. @default 500 */
  readonly readinessTimeoutMs: number;
  /**
   * Schema-aware cost of one GraphQL operation: every object it may return counts 1, lists by
   * their `first`/`last`/`max` argument (see src/graphql/guard.ts). @default 20000
   */
  readonly graphqlMaxCost: number;
  /** Nesting depth of one operation's selections. @default 10 */
  readonly graphqlMaxDepth: number;
  /** Aliases in one operation. @default 15 */
  readonly graphqlMaxAliases: number;
  /** Lexical tokens in one document, checked while parsing. @default 2000 */
  readonly graphqlMaxTokens: number;
  /** Directives in one operation. @default 50 */
  readonly graphqlMaxDirectives: number;
  /** Bytes of one response (HTTP body or WebSocket message); larger answers become a LIMIT_EXCEEDED error. @default 16777216 */
  readonly graphqlMaxResponseBytes: number;
  /** Schema introspection and "Did you mean" suggestions in errors. @default true outside production */
  readonly graphqlIntrospection: boolean;
  /** Postgres `statement_timeout` of the pool's connections (0: none; migrations run without it). @default 15000 */
  readonly databaseStatementTimeoutMs: number;

  // data sizes (docs/LIMITS.md; read them through limitsFromConfig)
  /** Nesting depth of any JSON value: inputs, outputs, definitions, the JSON scalar. @default 64 */
  readonly maxJsonDepth: number;
  /** UTF-8 bytes of a run input and of each step's input in a definition. @default 1048576 (1 MiB) */
  readonly maxInputBytes: number;
  /** UTF-8 bytes of a step's output (built-in or a worker's completeTask). @default 1048576 (1 MiB) */
  readonly maxOutputBytes: number;
  /** UTF-8 bytes of a whole workflow definition. @default 1048576 (1 MiB) */
  readonly maxDefinitionBytes: number;
  /** Steps of one workflow. @default 256 */
  readonly maxStepsPerWorkflow: number;
  /** Levels of child runs (`workflow` steps) below a run started by startRun. @default 16 */
  readonly maxWorkflowDepth: number;
  /** UTF-8 bytes one templated string may expand to. @default 1048576 (1 MiB) */
  readonly maxTemplateStringBytes: number;
  /** UTF-8 bytes a task's whole input may expand to. @default 4194304 (4 MiB) */
  readonly maxTemplateTaskBytes: number;
  /** Items one forEach step fans out to (one task row each). @default 10000 */
  readonly maxForEachItems: number;
  /** A ready task counts one priority level higher per this much waiting (src/domain/priorities.ts). @default 60000 */
  readonly priorityAgingMs: number;

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
  /**
   * GraphQL cost points (the objects an operation may return, lists by their page size: what
   * GRAPHQL_MAX_COST bounds) one tenant may spend a second over HTTP; over it, its requests are
   * refused RATE_LIMITED before their body is read until the window ends. 0: no limit. @default 100000
   */
  readonly rateLimitCostPerTenant: number;
  /**
   * GraphQL cost one tenant may have executing at once on one replica over HTTP (long polls not
   * counted); an operation that would pass it is refused RATE_LIMITED. An operation alone is always
   * admitted. 0: no limit. @default GRAPHQL_MAX_COST (one heaviest query at a time)
   */
  readonly tenantMaxExecutingCost: number;
  /** `claimTasks` long polls (`waitMs` > 0) one tenant holds open at once on one replica. @default 100 */
  readonly longPollsPerTenant: number;
  /** How far a webhook's signed timestamp may be from this replica's clock, either way, ms. @default 300000 (5 minutes) */
  readonly webhookReplayWindowMs: number;
  /** How long a received event (its id, for deduplication) is kept before it is pruned, ms. @default 604800000 (7 days) */
  readonly eventRetentionMs: number;
}

/**
 * What production needs beyond valid values. Without DATABASE_URL every process keeps its own
 * embedded database, so replicas of a Deployment would silently split the data between pods: in
 * production that is allowed only when MAESTRO_DATA_DIR is set, the deliberate choice of one node
 * on embedded storage. A shared database in turn needs shared leases and events (REDIS_URL), or
 * replicas would reclaim each other's tasks and miss each other's events.
 */
function productionRequirements(raw: Record<string, string | undefined>, databaseOnly = false): { variable: string; expected: string }[] {
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
  // A command that only touches the database (`npm run apikey`) shares no leases or events.
  if (raw['REDIS_URL'] === undefined && !databaseOnly) {
    return [
      { variable: 'REDIS_URL', expected: 'set when NODE_ENV=production and DATABASE_URL is set (replicas sharing a database need shared leases and events)' },
    ];
  }
  return [];
}

/** Two listeners cannot share a port: METRICS_PORT must differ from PORT (0 for both picks two free ports). */
function portRequirements(raw: Record<string, string | undefined>): { variable: string; expected: string }[] {
  const port = Number(raw['PORT'] ?? 4000);
  const metricsPort = Number(raw['METRICS_PORT'] ?? 9464);
  return Number.isInteger(port) && port === metricsPort && port !== 0
    ? [{ variable: 'METRICS_PORT', expected: `different from PORT (metrics are never served on the API port)` }]
    : [];
}

/**
 * Parses and validates the environment into one frozen Config; throws ConfigError naming each bad variable.
 * `databaseOnly`: for a command that only opens the database (REDIS_URL is then not required in production).
 */
export function loadConfig(env: Env = process.env as Env, opts: { databaseOnly?: boolean } = {}): Config {
  const raw: Record<string, string | undefined> = {};
  for (const name of ENV_VARS) {
    const value = env[name];
    raw[name] = value === '' ? undefined : value;
  }
  const parsed = schema.safeParse(raw);
  const issues = [
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => ({ variable: String(issue.path[0]), expected: describe(issue) }))),
    ...productionRequirements(raw, opts.databaseOnly),
    ...portRequirements(raw),
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
    databaseConnectTimeoutMs: v.DATABASE_CONNECT_TIMEOUT_MS,
    dataDir: v.MAESTRO_DATA_DIR,
    redisUrl: v.REDIS_URL,
    redisKeyPrefix: v.REDIS_KEY_PREFIX,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    schedulerPollIntervalMs: v.SCHEDULER_POLL_INTERVAL_MS,
    dispatchConcurrency: v.DISPATCH_CONCURRENCY,
    httpStepDefaultTimeoutMs: v.HTTP_STEP_DEFAULT_TIMEOUT_MS,
    httpStepMaxTimeoutMs: v.HTTP_STEP_MAX_TIMEOUT_MS,
    httpStepMaxResponseBytes: v.HTTP_STEP_MAX_RESPONSE_BYTES,
    httpStepMaxRequestBytes: v.HTTP_STEP_MAX_REQUEST_BYTES,
    httpStepMaxRedirects: v.HTTP_STEP_MAX_REDIRECTS,
    httpStepAllow: parseHostList(v.HTTP_STEP_ALLOW ?? (v.NODE_ENV === 'production' ? 'none' : LOOPBACK_ALLOW)),
    httpStepDeny: parseHostList(v.HTTP_STEP_DENY ?? 'none'),
    httpStepPorts: parsePorts(v.HTTP_STEP_PORTS),
    dispatchTenantConcurrency: Math.min(v.DISPATCH_CONCURRENCY, v.DISPATCH_TENANT_CONCURRENCY ?? Math.max(1, v.DISPATCH_CONCURRENCY)),
    httpStepTenantConcurrency: Math.min(v.DISPATCH_CONCURRENCY, v.HTTP_STEP_TENANT_CONCURRENCY ?? Math.max(1, Math.ceil(v.DISPATCH_CONCURRENCY / 4))),
    tenantMaxActiveRuns: v.TENANT_MAX_ACTIVE_RUNS,
    tenantMaxQueuedTasks: v.TENANT_MAX_QUEUED_TASKS,
    tenantMaxSchedules: v.TENANT_MAX_SCHEDULES,
    scheduleBackfillMax: v.SCHEDULE_BACKFILL_MAX,
    cancelRunsMax: v.CANCEL_RUNS_MAX,
    leaseTtlMs: v.LEASE_TTL_MS,
    noWorkerAfterMs: v.NO_WORKER_AFTER_MS,
    reaperIntervalMs: v.REAPER_INTERVAL_MS,
    orphanSweepIntervalMs: v.ORPHAN_SWEEP_INTERVAL_MS,
    playgroundEnabled: v.PLAYGROUND_ENABLED ?? v.NODE_ENV !== 'production',
    otlpEndpoint: v.OTEL_EXPORTER_OTLP_ENDPOINT,
    serviceName: v.OTEL_SERVICE_NAME,
    metricsPort: v.METRICS_PORT,
    metricsLabelValuesMax: v.METRICS_LABEL_VALUES_MAX,
    startupWaitMs: v.STARTUP_WAIT_MS,
    readinessTimeoutMs: v.READINESS_TIMEOUT_MS,
    graphqlMaxCost: v.GRAPHQL_MAX_COST,
    graphqlMaxDepth: v.GRAPHQL_MAX_DEPTH,
    graphqlMaxAliases: v.GRAPHQL_MAX_ALIASES,
    graphqlMaxTokens: v.GRAPHQL_MAX_TOKENS,
    graphqlMaxDirectives: v.GRAPHQL_MAX_DIRECTIVES,
    graphqlMaxResponseBytes: v.GRAPHQL_MAX_RESPONSE_BYTES,
    graphqlIntrospection: v.GRAPHQL_INTROSPECTION ?? v.NODE_ENV !== 'production',
    databaseStatementTimeoutMs: v.DATABASE_STATEMENT_TIMEOUT_MS,
    maxJsonDepth: v.MAX_JSON_DEPTH,
    maxInputBytes: v.MAX_INPUT_BYTES,
    maxOutputBytes: v.MAX_OUTPUT_BYTES,
    maxDefinitionBytes: v.MAX_DEFINITION_BYTES,
    maxStepsPerWorkflow: v.MAX_STEPS_PER_WORKFLOW,
    maxWorkflowDepth: v.MAX_WORKFLOW_DEPTH,
    maxTemplateStringBytes: v.MAX_TEMPLATE_STRING_BYTES,
    maxTemplateTaskBytes: v.MAX_TEMPLATE_TASK_BYTES,
    maxForEachItems: v.MAX_FOREACH_ITEMS,
    priorityAgingMs: v.PRIORITY_AGING_MS,
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
    webhookReplayWindowMs: v.WEBHOOK_REPLAY_WINDOW_MS,
    eventRetentionMs: v.EVENT_RETENTION_MS,
    rateLimitCostPerTenant: v.RATE_LIMIT_COST_PER_TENANT,
    tenantMaxExecutingCost: v.TENANT_MAX_EXECUTING_COST ?? v.GRAPHQL_MAX_COST,
  });
}
