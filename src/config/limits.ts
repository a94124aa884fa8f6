import type { Config } from './index';

/**
 * Every limit the conductor enforces, in one place. Each is enforced before the work it bounds is
 * done, and a refusal is a `LimitExceededError` (`LIMIT_EXCEEDED`, with the limit's name and value)
 * that changes nothing. `docs/LIMITS.md` lists them with their defaults and how to raise them.
 * Areas add their fields under their own heading.
 */
export interface Limits {
  // --- data sizes (inputs, outputs, definitions, templates) -----------------------------------
  /** MAX_JSON_DEPTH: nesting depth of any JSON value (the scalar, inputs, outputs, definitions). */
  readonly maxJsonDepth: number;
  /** MAX_INPUT_BYTES: a run input, and each step's input as written in a definition. */
  readonly maxInputBytes: number;
  /** MAX_OUTPUT_BYTES: a step's output, from a built-in executor or a worker's completeTask. */
  readonly maxOutputBytes: number;
  /** MAX_DEFINITION_BYTES: a whole workflow definition as registered. */
  readonly maxDefinitionBytes: number;
  /** MAX_STEPS_PER_WORKFLOW: steps of one workflow (a run creates one task per step). */
  readonly maxStepsPerWorkflow: number;
  /** MAX_WORKFLOW_DEPTH: levels of child runs below a run started by startRun. */
  readonly maxWorkflowDepth: number;
  /** MAX_TEMPLATE_STRING_BYTES: what one templated string may expand to. */
  readonly maxTemplateStringBytes: number;
  /** MAX_TEMPLATE_TASK_BYTES: what a task's whole input may expand to. */
  readonly maxTemplateTaskBytes: number;
  /** MAX_FOREACH_ITEMS: items one forEach step fans out to. */
  readonly maxForEachItems: number;

  // --- GraphQL requests (src/graphql/guard.ts): the same on HTTP, graphql-ws and the legacy protocol ---
  readonly graphql: GraphQLRequestLimits;
  /** Postgres statement_timeout of the pool's connections, ms (0: none). */
  readonly databaseStatementTimeoutMs: number;

  // --- metrics ---
  /** Distinct values per tenant-chosen metric label (`workflow`, `queue`); beyond it `__other__`. METRICS_LABEL_VALUES_MAX, @default 100 */
  readonly metricsLabelValuesMax: number;

  // --- http steps and fair shares (SSRF, per-tenant shares, quotas) ---
  /** Longest `timeoutMs` of an http step (step or input); longer is refused at registerWorkflow. */
  readonly httpStepMaxTimeoutMs: number;
  /** Response bytes an http step reads before it fails. */
  readonly httpStepMaxResponseBytes: number;
  /** Request body bytes an http step may send. */
  readonly httpStepMaxRequestBytes: number;
  /** Redirects an http step follows. */
  readonly httpStepMaxRedirects: number;
  /** Built-in steps of one tenant executing at once per replica. */
  readonly dispatchTenantConcurrency: number;
  /** http steps of one tenant executing at once per replica. */
  readonly httpStepTenantConcurrency: number;
  /** Runs of one tenant PENDING or RUNNING at once (QUOTA_EXCEEDED beyond). */
  readonly tenantMaxActiveRuns: number;
  /** Tasks of one tenant QUEUED at once (QUOTA_EXCEEDED beyond). */
  readonly tenantMaxQueuedTasks: number;
  /** Runs one `cancelRuns` call cancels at most (CANCEL_RUNS_MAX); the caller repeats it for more. */
  readonly cancelRunsMax: number;

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
  /** GraphQL cost points per second per tenant, 0 = off (RATE_LIMIT_COST_PER_TENANT). */
  readonly rateLimitCostPerTenant: number;
  /** GraphQL cost of one tenant executing at once per replica, 0 = off (TENANT_MAX_EXECUTING_COST). */
  readonly tenantMaxExecutingCost: number;
  /** Failed authentications per client IP per minute, 0 = off (AUTH_FAILURES_PER_IP). */
  readonly authFailuresPerIp: number;
  /** Concurrent `claimTasks` long polls per tenant per replica (LONG_POLLS_PER_TENANT). */
  readonly longPollsPerTenant: number;
  /** Requests one tenant has executing at once per replica while it is busy, 0 = off (TENANT_REQUESTS_WHEN_BUSY). */
  readonly tenantRequestsWhenBusy: number;
  /** Event-loop utilization (percent) from which a replica counts as busy (BUSY_EVENT_LOOP_PERCENT). */
  readonly busyEventLoopPercent: number;
}

/** What one GraphQL operation may ask for. */
export interface GraphQLRequestLimits {
  /** Schema-aware cost: objects the operation may return, lists counted by `first`/`last`/`max`. */
  readonly maxCost: number;
  readonly maxDepth: number;
  readonly maxAliases: number;
  /** Lexical tokens of the document, counted while parsing (a longer one is not parsed further). */
  readonly maxTokens: number;
  readonly maxDirectives: number;
  /** Long-polling `claimTasks` (waitMs > 0, or a variable) in one operation. */
  readonly maxLongPolls: number;
  /** Serialised size of one response, bytes. */
  readonly maxResponseBytes: number;
  /** Introspection and "Did you mean" suggestions. */
  readonly introspection: boolean;
}

/** The limits of a configuration. */
export function limitsFromConfig(config: Config): Limits {
  return Object.freeze({
    graphql: Object.freeze({
      maxCost: config.graphqlMaxCost,
      maxDepth: config.graphqlMaxDepth,
      maxAliases: config.graphqlMaxAliases,
      maxTokens: config.graphqlMaxTokens,
      maxDirectives: config.graphqlMaxDirectives,
      // Aliased long polls run one after another: 100 of them held one request for 100 minutes.
      maxLongPolls: 1,
      maxResponseBytes: config.graphqlMaxResponseBytes,
      introspection: config.graphqlIntrospection,
    }),
    databaseStatementTimeoutMs: config.databaseStatementTimeoutMs,
    // data sizes
    maxJsonDepth: config.maxJsonDepth,
    maxInputBytes: config.maxInputBytes,
    maxOutputBytes: config.maxOutputBytes,
    maxDefinitionBytes: config.maxDefinitionBytes,
    maxStepsPerWorkflow: config.maxStepsPerWorkflow,
    maxWorkflowDepth: config.maxWorkflowDepth,
    maxTemplateStringBytes: config.maxTemplateStringBytes,
    maxTemplateTaskBytes: config.maxTemplateTaskBytes,
    maxForEachItems: config.maxForEachItems,
    metricsLabelValuesMax: config.metricsLabelValuesMax,
    // --- http steps and fair shares ---
    httpStepMaxTimeoutMs: config.httpStepMaxTimeoutMs,
    httpStepMaxResponseBytes: config.httpStepMaxResponseBytes,
    httpStepMaxRequestBytes: config.httpStepMaxRequestBytes,
    httpStepMaxRedirects: config.httpStepMaxRedirects,
    dispatchTenantConcurrency: config.dispatchTenantConcurrency,
    httpStepTenantConcurrency: config.httpStepTenantConcurrency,
    tenantMaxActiveRuns: config.tenantMaxActiveRuns,
    tenantMaxQueuedTasks: config.tenantMaxQueuedTasks,
    cancelRunsMax: config.cancelRunsMax,
    // Transports
    requestBodyMaxBytes: config.requestBodyMaxBytes,
    wsInitTimeoutMs: config.wsInitTimeoutMs,
    wsMaxSubscriptionsPerConnection: config.wsMaxSubscriptionsPerConnection,
    wsMaxConnectionsPerKey: config.wsMaxConnectionsPerKey,
    rateLimitPerKey: config.rateLimitPerKey,
    rateLimitPerTenant: config.rateLimitPerTenant,
    rateLimitCostPerTenant: config.rateLimitCostPerTenant,
    tenantMaxExecutingCost: config.tenantMaxExecutingCost,
    authFailuresPerIp: config.authFailuresPerIp,
    longPollsPerTenant: config.longPollsPerTenant,
    tenantRequestsWhenBusy: config.tenantRequestsWhenBusy,
    busyEventLoopPercent: config.busyEventLoopPercent,
  });
}
