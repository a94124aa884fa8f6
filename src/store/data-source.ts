import { DataSource, MigrationExecutor } from 'typeorm';
import { ENTITIES } from './entities';
import { MIGRATIONS } from '../../migrations';

export interface DataSourceOptions {
  url: string;
  /** @default 10 */
  poolSize: number;
  /** Longest wait for a connection (new, or free in the pool) before a query fails as UNAVAILABLE. @default 5000 */
  connectTimeoutMs?: number;
  /** Postgres `application_name`, to tell replicas apart in pg_stat_activity. */
  applicationName?: string;
  /**
   * Postgres `statement_timeout` of every pooled connection, ms; 0 or absent: none. Long polls
   * wait in Node, not in SQL, so they are not bounded by it; migrations lift it on their own
   * connection.
   */
  statementTimeoutMs?: number;
}

/**
 * The one TypeORM DataSource. `synchronize` is never on: the schema changes only through
 * the migrations in `migrations/`, which `runMigrations` applies at start-up.
 */
export function createDataSource(options: DataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    // gen_random_uuid() is built in since Postgres 13 and present on PGlite; uuid-ossp is not.
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    synchronize: false,
    migrationsRun: false,
    logging: false,
    poolSize: options.poolSize,
    applicationName: options.applicationName ?? 'maestro-conductor',
    extra: {
      // Fail fast when Postgres is down instead of queueing requests forever: the request answers
      // UNAVAILABLE (src/store/unavailable.ts) and the client retries.
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      // Sent in the startup packet: no extra round trip per connection.
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
      // No JIT compilation: every statement here is short, and the planner's cost estimate of the
      // built-in claim (LIMITs it cannot size inside its per-tenant reads) passed the JIT
      // thresholds, so compiling took ~1 s of a claim that runs in 3 ms (Postgres' default is
      // jit=on; the JIT itself is off in most packaged builds, not in all).
      options: '-c jit=off',
    },
  });
}

/** Applies pending migrations, each in its own transaction; safe when replicas start together. */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  // Replicas starting at once would race on the same migration: serialize them on an advisory lock.
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    // A migration (or waiting for another replica's) may take longer than a request may.
    await runner.query('SET statement_timeout = 0');
    await runner.query('SELECT pg_advisory_lock(727400001)');
    // On the lock's own connection: an embedded pool has only that one.
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    const applied = await executor.executePendingMigrations();
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock(727400001)').catch(() => undefined);
    await runner.query('RESET statement_timeout').catch(() => undefined);
    await runner.release();
  }
}
