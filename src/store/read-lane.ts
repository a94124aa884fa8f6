import { AsyncLocalStorage } from 'node:async_hooks';
import { UnavailableError } from '../domain/errors';
import { FairTurns } from '../primitives/fair-turns';
import { UNAVAILABLE_RETRY_AFTER_MS } from './unavailable';

/**
 * The tenant whose API read the current async context serves: set by the GraphQL layer around
 * each query and subscription resolver (src/graphql/schema.ts), read by `Database` to take the
 * statement's connection from that tenant's share of the pool (DATABASE_READ_CONNECTIONS,
 * TENANT_READ_CONNECTIONS). Writes and the engine's own work run outside it and are not counted.
 */
export const readLane = new AsyncLocalStorage<{ readonly tenantId: string }>();

/**
 * The pool's read turns (`readShares`): a wait longer than the pool's own connect timeout answers
 * as a pool timeout does (src/store/unavailable.ts), naming the share that ran out.
 */
export function readTurns(shares: { total: number; perTenant: number }, connectTimeoutMs: number): FairTurns {
  return new FairTurns({
    capacity: shares.total,
    perKey: shares.perTenant,
    timeoutMs: connectTimeoutMs,
    onTimeout: () =>
      new UnavailableError(
        `the database is unavailable (POOL_TIMEOUT: no connection for this tenant's reads within DATABASE_CONNECT_TIMEOUT_MS); retry after ${UNAVAILABLE_RETRY_AFTER_MS} ms`,
        { reason: 'POOL_TIMEOUT', retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS },
      ),
  });
}
