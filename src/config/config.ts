import type { HostList } from '../executors/http-policy';

/**
 * The conductor's settings, parsed once from the environment by `loadConfig` (index.ts, which
 * maps each variable onto a field here) and frozen. Units are in the names; each field documents
 * its variable's meaning and default.
 */
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
  /**
   * Pool connections the API's reads (queries and subscriptions) may hold at once on one replica;
   * the rest stay free for writes and the engine's own work (dispatch, results, timers), so no
   * read flood delays a run. Read through `readShares`. @default half of the pool, rounded up
   */
  readonly databaseReadConnections: number | undefined;
  /**
   * Of DATABASE_READ_CONNECTIONS, how many one tenant's reads may hold at once; a freed connection
   * goes to the waiting tenant holding the fewest. Read through `readShares`. @default half of
   * DATABASE_READ_CONNECTIONS, rounded up
   */
  readonly tenantReadConnections: number | undefined;
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
   * refused RATE_LIMITED before their body is read until the window ends. 0: no limit. @default 20000
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
  /**
   * Requests (HTTP operations, WebSocket queries and mutations) one tenant has executing at once on
   * one replica while its event loop is busy (BUSY_EVENT_LOOP_PERCENT) and more than one tenant is
   * sending; the tenant's further requests wait their turn (src/primitives/busy-shares.ts). 0: no
   * limit. @default 1
   */
  readonly tenantRequestsWhenBusy: number;
  /** Event-loop utilization, in percent, from which a replica counts as busy (for TENANT_REQUESTS_WHEN_BUSY). @default 70 */
  readonly busyEventLoopPercent: number;
  /** How far a webhook's signed timestamp may be from this replica's clock, either way, ms. @default 300000 (5 minutes) */
  readonly webhookReplayWindowMs: number;
  /** How long a received event (its id, for deduplication) is kept before it is pruned, ms. @default 604800000 (7 days) */
  readonly eventRetentionMs: number;
}
