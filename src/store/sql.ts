import { createHash } from 'node:crypto';
import type { DataSource, QueryRunner } from 'typeorm';
import type { Pool, PoolClient } from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError, ValidationError } from '../domain/errors';
import type { FairTurns } from '../primitives/fair-turns';
import { readLane } from './read-lane';
import { asUnavailable } from './unavailable';

/**
 * The executor store functions take (graphile's `withPgClient` habit): the caller owns the
 * transaction. Inside a transaction, every statement MUST go through the transaction's `Sql`:
 * on embedded PGlite a second connection would wait for this one forever.
 */
export interface Sql {
  rows<T>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

/**
 * Hot statements are named, so each connection parses and plans them once (graphile-worker
 * prepares its statements too). Every statement text in the store is fixed or one of a few
 * variants, so the set stays small; past `MAX_PREPARED` texts new ones run unnamed.
 */
const MAX_PREPARED = 256;
const statementNames = new Map<string, string>();
/**
 * Bumped when a prepared statement went stale (a migration changed a table under a `SELECT *`:
 * "cached plan must not change result type"): every name changes, so each connection prepares
 * afresh, and the failed statement or transaction is retried.
 */
let generation = 0;

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED) {
    name = `m${generation}_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return name;
}

function isStalePlan(e: unknown): boolean {
  if (sqlState(e) !== '0A000') return false;
  // The routine names the check whatever the server's message language (lc_messages).
  const { routine, message } = e as { routine?: string; message?: string };
  return routine === 'RevalidateCachedQuery' || /cached plan must not change result type/.test(message ?? '');
}

function renamePrepared(): void {
  generation++;
  statementNames.clear();
}

/** Statements straight on the pool's client: TypeORM's query wrapper adds nothing we use. */
class RunnerSql implements Sql {
  constructor(
    private readonly runner: QueryRunner,
    private readonly prepare: boolean,
  ) {}

  async rows<T>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    const client = (await this.runner.connect()) as PoolClient;
    const name = this.prepare ? statementName(text) : undefined;
    try {
      const result = await client.query({ text, values: params as unknown[], ...(name ? { name } : {}) });
      return result.rows as T[];
    } catch (e: unknown) {
      if (name && isStalePlan(e)) renamePrepared();
      throw e;
    }
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

/** What to fix, by Postgres "data exception" (class 22) condition; the server's own text stays in the logs. */
const INPUT_PROBLEMS: Record<string, string> = {
  '22P05': 'a string holds a NUL character (\\u0000) or an unpaired surrogate: remove it',
  '22021': 'a string holds a NUL character (\\u0000) or an unpaired surrogate: remove it',
  '22003': 'a number is out of range: keep integers within ±2^53 and numbers finite',
  '22008': 'a date is out of range: keep dates between the years 1 and 9999',
  '22007': 'a date or time is not valid: send an ISO 8601 date-time',
  '22P02': 'a value has the wrong form for its type',
  '22001': 'a string is too long',
};

/**
 * The one place a database failure gets its type: Postgres unreachable, restarting or shutting
 * down (or no pool connection within DATABASE_CONNECT_TIMEOUT_MS) is UNAVAILABLE, retryable, and
 * so is a statement cut by DATABASE_STATEMENT_TIMEOUT_MS; a "data exception" (class 22: a NUL
 * character, an unpaired surrogate, a number out of range) is bad input, not a server fault, and
 * its message says what to fix with no Postgres text or SQLSTATE. Anything else stays as it is
 * (an internal error).
 */
function typed(e: unknown): unknown {
  const state = sqlState(e);
  // statement_timeout (DATABASE_STATEMENT_TIMEOUT_MS) cancelled the statement: the caller may retry.
  if (state === '57014') {
    return new UnavailableError('A database statement took too long and was cancelled; try again, or ask for less at once', { reason: 'STATEMENT_TIMEOUT' });
  }
  if (state === undefined || !state.startsWith('22')) return asUnavailable(e);
  const problem = INPUT_PROBLEMS[state] ?? 'remove NUL characters (\\u0000) and unpaired surrogates from strings, and keep numbers and dates in range';
  return new ValidationError(`A value cannot be stored: ${problem}`, { reason: 'VALUE_NOT_STORABLE' });
}

export class Database {
  /**
   * @param prepare name hot statements (a Postgres server); embedded PGlite is one shared
   *   session behind its socket, where a reconnecting client would meet its old names.
   */
  constructor(
    readonly dataSource: DataSource,
    private readonly prepare = false,
    /**
     * Each tenant's share of the pool for API reads (src/store/read-lane.ts): a statement run in
     * a tenant's read lane waits for one of that tenant's turns before it takes a connection.
     */
    private readonly reads: FairTurns | null = null,
  ) {}

  /** The current read lane's turn (null: not in a read lane, or no shares). */
  private async readTurn(): Promise<(() => void) | null> {
    const lane = this.reads ? readLane.getStore() : undefined;
    return lane ? this.reads!.acquire(lane.tenantId) : null;
  }

  /** The pool's read turns by tenant (null: reads are not shared out). */
  get readTurns(): FairTurns | null {
    return this.reads;
  }

  /** One statement outside a transaction. */
  async rows<T>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    const release = await this.readTurn();
    try {
      for (let attempt = 1; ; attempt++) {
        const runner = this.dataSource.createQueryRunner();
        try {
          return await new RunnerSql(runner, this.prepare).rows<T>(text, params);
        } catch (e: unknown) {
          if (attempt === 1 && isStalePlan(e)) continue;
          throw typed(e);
        } finally {
          await runner.release();
        }
      }
    } finally {
      release?.();
    }
  }

  /**
   * Runs `fn` in a READ COMMITTED transaction; retries on serialization failures and deadlocks
   * with jittered backoff (graphile `lib.ts`), up to 5 attempts.
   */
  async transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    const release = await this.readTurn();
    if (!release) return this.transactionAttempts(fn);
    try {
      // Out of the lane inside: a statement the callback ran outside its transaction (a bug, but
      // one that must not deadlock) would otherwise wait for a second turn while holding one.
      return await readLane.exit(() => this.transactionAttempts(fn));
    } finally {
      release();
    }
  }

  private async transactionAttempts<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const runner = this.dataSource.createQueryRunner();
      try {
        await runner.connect();
        await runner.startTransaction();
        try {
          const result = await fn(new RunnerSql(runner, this.prepare));
          await runner.commitTransaction();
          return result;
        } catch (e: unknown) {
          if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
          throw e;
        }
      } catch (e: unknown) {
        const state = sqlState(e);
        const retryable = (state !== undefined && RETRYABLE_SQLSTATES.has(state)) || isStalePlan(e);
        if (attempt >= 5 || !retryable) throw typed(e);
        await sleep(Math.round(10 * 2 ** attempt * (0.5 + Math.random())));
      } finally {
        await runner.release();
      }
    }
  }

  async ping(): Promise<void> {
    await this.rows('SELECT 1');
  }

  /** This replica's connection pool by state (the pool gauge); null before it exists. */
  poolStats(): PoolStats | null {
    // TypeORM's Postgres driver keeps its pg Pool as `master`, typed `any`.
    const driver: object = this.dataSource.driver;
    const pool = 'master' in driver ? (driver.master as Pick<Pool, 'totalCount' | 'idleCount' | 'waitingCount'> | undefined) : undefined;
    return pool ? { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount } : null;
  }
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}
