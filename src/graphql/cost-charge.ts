import type { ApolloServerPlugin } from '@apollo/server';
import { getOperationAST, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { RateLimitedError } from '../domain/errors';
import type { KeyedSlots } from '../primitives/keyed-slots';
import type { Context } from './context';
import { mapError, toGraphQLError } from './errors';
import { operationBudget, type Budget } from './guard';

/** A tenant over its executing cost is asked to come back after this long. */
const BUSY_RETRY_AFTER_MS = 1_000;

/**
 * What a tenant's HTTP operation costs, once it is resolved and before it executes:
 *
 * - Its schema-aware cost (the figure GRAPHQL_MAX_COST bounds) is charged to the tenant's cost
 *   budget, or refused RATE_LIMITED when it does not fit in what is left of it; a spent budget is
 *   checked before the next request's body is read (src/http/admission.ts).
 * - It holds that much of the tenant's executing cost (`executing`, per replica) until its
 *   response is sent; an operation that would take the tenant past it is refused RATE_LIMITED.
 *   Long polls are not counted (they wait, and LONG_POLLS_PER_TENANT bounds them). One heavy
 *   read at a time per tenant: four at once queued 60 queries for the 10 pool connections and
 *   kept the event loop busy 97% of the time (bench scenario 7).
 *
 * Apollo reuses the parsed document of a repeated query, so its cost is walked once.
 */
export function costChargePlugin(opts: {
  charge: (tenantId: string, cost: number) => Promise<void>;
  /** Cost executing per tenant; null: not bounded. */
  executing: KeyedSlots | null;
  onBusy?: () => void;
}): ApolloServerPlugin {
  const budgets = new WeakMap<DocumentNode, Map<OperationDefinitionNode, Budget>>();
  return {
    requestDidStart: async () => {
      let release: (() => void) | null = null;
      return {
        didResolveOperation: async ({ schema, document, operation, contextValue }) => {
          if (!operation) return;
          let byOperation = budgets.get(document);
          if (!byOperation) budgets.set(document, (byOperation = new Map()));
          let budget = byOperation.get(operation);
          if (budget === undefined) byOperation.set(operation, (budget = operationBudget(schema, document, operation)));
          const { tenantId } = contextValue as Context;
          if (opts.executing && budget.longPolls === 0) {
            release = opts.executing.tryAcquire(tenantId, Math.max(1, budget.cost));
            if (!release) {
              opts.onBusy?.();
              const max = opts.executing.capacity;
              throw toGraphQLError(
                new RateLimitedError(
                  `This tenant already has operations of cost ${opts.executing.count(tenantId)} executing on this replica; with this one (cost ${budget.cost}) it would pass ${max} (TENANT_MAX_EXECUTING_COST): retry in ${BUSY_RETRY_AFTER_MS} ms, or send fewer heavy queries at once`,
                  { retryAfterMs: BUSY_RETRY_AFTER_MS, limit: 'TENANT_MAX_EXECUTING_COST', max },
                ),
                true,
              );
            }
          }
          // Too costly for what is left of the tenant's budget: 429 with its Retry-After.
          await opts.charge(tenantId, budget.cost).catch((e: unknown) => {
            throw mapError(e, true);
          });
        },
        willSendResponse: async () => {
          release?.();
          release = null;
        },
      };
    },
  };
}

/**
 * The cost of a WebSocket operation (graphql-ws or the legacy protocol), charged to its tenant's
 * budget like an HTTP one; the budget is checked before each WebSocket operation (WsGuard). A
 * subscription is charged once, when it starts.
 */
export function websocketCost(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): number {
  const operation = getOperationAST(document, operationName);
  return operation ? operationBudget(schema, document, operation).cost : 0;
}
