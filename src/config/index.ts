import { z } from 'zod';
import { LOOPBACK_ALLOW, parseHostList, parsePorts } from '../executors/http-policy';
import type { Config } from './config';
import { bool, ConfigError, describe, HOST_NAME, hostList, int, list, MIB, ORIGIN, url } from './values';

export type { Config } from './config';
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
  'DATABASE_READ_CONNECTIONS',
  'TENANT_READ_CONNECTIONS',
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
  'TENANT_REQUESTS_WHEN_BUSY',
  'BUSY_EVENT_LOOP_PERCENT',
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
  DATABASE_READ_CONNECTIONS: int(1, 200).optional(),
  TENANT_READ_CONNECTIONS: int(1, 200).optional(),
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
  TENANT_REQUESTS_WHEN_BUSY: int(0, 100_000).default(1),
  BUSY_EVENT_LOOP_PERCENT: int(0, 100).default(70),
  WEBHOOK_REPLAY_WINDOW_MS: int(1_000, 86_400_000).default(300_000),
  EVENT_RETENTION_MS: int(3_600_000, 31_536_000_000).default(604_800_000),
  RATE_LIMIT_COST_PER_TENANT: int(0, 100_000_000).default(20_000),
  TENANT_MAX_EXECUTING_COST: int(0, 100_000_000).optional(),
});

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
    databaseReadConnections: v.DATABASE_READ_CONNECTIONS,
    tenantReadConnections: v.TENANT_READ_CONNECTIONS,
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
    tenantRequestsWhenBusy: v.TENANT_REQUESTS_WHEN_BUSY,
    busyEventLoopPercent: v.BUSY_EVENT_LOOP_PERCENT,
    webhookReplayWindowMs: v.WEBHOOK_REPLAY_WINDOW_MS,
    eventRetentionMs: v.EVENT_RETENTION_MS,
    rateLimitCostPerTenant: v.RATE_LIMIT_COST_PER_TENANT,
    tenantMaxExecutingCost: v.TENANT_MAX_EXECUTING_COST ?? v.GRAPHQL_MAX_COST,
  });
}

/**
 * The pool's shares for API reads on a pool of `poolSize` connections (1 on embedded PGlite):
 * what all tenants' reads may hold at once, and what one tenant's may.
 */
export function readShares(config: Pick<Config, 'databaseReadConnections' | 'tenantReadConnections'>, poolSize: number): { total: number; perTenant: number } {
  const total = Math.min(poolSize, config.databaseReadConnections ?? Math.ceil(poolSize / 2));
  return { total, perTenant: Math.min(total, config.tenantReadConnections ?? Math.ceil(total / 2)) };
}
