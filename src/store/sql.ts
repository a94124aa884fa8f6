import type { DataSource, QueryRunner } from 'typeorm';
import { setTimeout as sleep } from 'node:timers/promises';
import { ValidationError } from '../domain/errors';

/**
 * The executor store functions take (graphile's `withPgClient` habit): the caller owns the
 * transaction. Inside a transaction, every statement MUST go through the transaction's `Sql`:
 * on embedded PGlite a second connection would wait for this one forever.
 */
export interface Sql {
  rows<T>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

class RunnerSql implements Sql {
  constructor(private readonly runner: QueryRunner) {}
  async rows<T>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    const result = await this.runner.query(text, params as unknown[], true);
    return result.records as T[];
  }
}

/** Postgres errors worth retrying the whole transaction for. */
const RETRYABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown; driverError?: { code?: unknown } } | null)?.driverError?.code ?? (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Postgres "data exception" (class 22): a value the caller sent cannot be stored (a NUL character,
 * an unpaired surrogate, a number out of range). That is bad input, not a server fault.
 */
function asInputError(e: unknown): unknown {
  const state = sqlState(e);
  if (state === undefined || !state.startsWith('22')) return e;
  const detail = (e as { message?: string }).message ?? state;
  return new ValidationError(
    `A value cannot be stored (${detail}): remove NUL characters (\\u0000) and unpaired surrogates from strings, and keep numbers and dates in range`,
    { sqlState: state },
  );
}

export class Database {
  constructor(readonly dataSource: DataSource) {}

  /** One statement outside a transaction. */
  async rows<T>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await new RunnerSql(runner).rows<T>(text, params);
    } catch (e: unknown) {
      throw asInputError(e);
    } finally {
      await runner.release();
    }
  }

  /**
   * Runs `fn` in a READ COMMITTED transaction; retries on serialization failures and deadlocks
   * with jittered backoff (graphile `lib.ts`), up to 5 attempts.
   */
  async transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const runner = this.dataSource.createQueryRunner();
      try {
        await runner.connect();
        await runner.startTransaction();
        try {
          const result = await fn(new RunnerSql(runner));
          await runner.commitTransaction();
          return result;
        } catch (e: unknown) {
          if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
          throw e;
        }
      } catch (e: unknown) {
        const state = sqlState(e);
        if (attempt >= 5 || state === undefined || !RETRYABLE_SQLSTATES.has(state)) throw asInputError(e);
        await sleep(Math.round(10 * 2 ** attempt * (0.5 + Math.random())));
      } finally {
        await runner.release();
      }
    }
  }

  async ping(): Promise<void> {
    await this.rows('SELECT 1');
  }
}
