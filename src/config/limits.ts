import type { Config } from './index';

/**
 * Every limit the conductor enforces, in one place. Each is enforced before the work it bounds is
 * done, and a refusal is a `LimitExceededError` (`LIMIT_EXCEEDED`, with the limit's name and value)
 * that changes nothing. `docs/LIMITS.md` lists them with their defaults and how to raise them.
 * Areas add their fields under their own heading.
 */
export interface Limits {
  // ops: metrics
  /** Distinct values per tenant-chosen metric label (`workflow`, `queue`); beyond it `__other__`. METRICS_LABEL_VALUES_MAX, @default 100 */
  readonly metricsLabelValuesMax: number;
  // --- GraphQL requests (src/graphql/guard.ts): the same on HTTP, graphql-ws and the legacy protocol ---
  readonly graphql: GraphQLRequestLimits;
  /** Postgres statement_timeout of the pool's connections, ms (0: none). */
  readonly databaseStatementTimeoutMs: number;
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
    // ops: metrics
    metricsLabelValuesMax: config.metricsLabelValuesMax,
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
  });
}
