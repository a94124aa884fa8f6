import type { ApolloServerPlugin } from '@apollo/server';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import type { Context } from './context';
import { operationCost } from './guard';

/**
 * Charges each HTTP operation's schema-aware cost (the figure GRAPHQL_MAX_COST bounds) to its
 * tenant's cost budget once the operation is resolved, before it executes. The budget is checked
 * before the next request's body is read (src/http/admission.ts). Apollo reuses the parsed
 * document of a repeated query, so its cost is walked once.
 */
export function costChargePlugin(charge: (tenantId: string, cost: number) => Promise<void>): ApolloServerPlugin {
  const costs = new WeakMap<DocumentNode, Map<OperationDefinitionNode, number>>();
  return {
    requestDidStart: async () => ({
      didResolveOperation: async ({ schema, document, operation, contextValue }) => {
        if (!operation) return;
        let byOperation = costs.get(document);
        if (!byOperation) costs.set(document, (byOperation = new Map()));
        let cost = byOperation.get(operation);
        if (cost === undefined) byOperation.set(operation, (cost = operationCost(schema, document, operation)));
        await charge((contextValue as Context).tenantId, cost);
      },
    }),
  };
}
