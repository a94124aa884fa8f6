import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The tenant whose API read the current async context serves: set by the GraphQL layer around
 * each query and subscription resolver (src/graphql/schema.ts), read by `Database` to take the
 * statement's connection from that tenant's share of the pool (DATABASE_READ_CONNECTIONS,
 * TENANT_READ_CONNECTIONS). Writes and the engine's own work run outside it and are not counted.
 */
export const readLane = new AsyncLocalStorage<{ readonly tenantId: string }>();
