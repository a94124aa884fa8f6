import type { DataSource, QueryRunner } from 'typeorm';
import { createDataSource, runMigrations } from '../../src/store/data-source';
import type { Sql } from '../../src/store/sql';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/store/embedded';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Real Postgres when DATABASE_URL is set (CI's first job), embedded PGlite otherwise. */
export const REAL_POSTGRES = Boolean(process.env['DATABASE_URL']);
export const REAL_REDIS = Boolean(process.env['REDIS_URL']);

export interface TestDatabase {
  /** DATABASE_URL for the app; undefined: embedded PGlite. */
  url: string | undefined;
  drop(): Promise<void>;
}

/**
 * A database of its own for one test file, so files run in parallel without sharing rows: on a
 * real server a fresh `CREATE DATABASE`, dropped at the end; embedded, a new PGlite per app.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = process.env['DATABASE_URL'];
  if (!base) return { url: undefined, drop: async () => undefined };
  const name = `maestro_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * A TypeORM data source on a database of its own (real server or embedded PGlite), for tests that
 * read entity metadata or run migrations. Call `open` in `beforeAll` and `close` in `afterAll`.
 */
export function testDataSource(opts: { /** On a Postgres server (embedded PGlite is always 1). @default 1 */ poolSize?: number } = {}): {
  readonly ds: DataSource;
  open(): Promise<DataSource>;
  close(): Promise<void>;
} {
  let testDb: TestDatabase | undefined;
  let embedded: EmbeddedPostgres | null = null;
  let ds: DataSource | undefined;
  return {
    get ds() {
      if (!ds) throw new Error('testDataSource: call open() first');
      return ds;
    },
    async open() {
      testDb = await createTestDatabase();
      if (!testDb.url) embedded = await startEmbeddedPostgres('memory://');
      ds = createDataSource({ url: testDb.url ?? embedded!.url, poolSize: testDb.url ? (opts.poolSize ?? 1) : 1 });
      await ds.initialize();
      return ds;
    },
    async close() {
      await ds?.destroy();
      await embedded?.stop();
      await testDb?.drop();
    },
  };
}

/** Migrates `ds` and registers an empty workflow `plan` of `tenant` (store-level tests that seed rows by SQL); its id. */
export async function migratedWithWorkflow(ds: DataSource, tenant: string): Promise<string> {
  await runMigrations(ds);
  const [wf] = (await ds.query(
    `INSERT INTO workflows ("tenantId", name, version, description, definition, "definitionHash")
     VALUES ($1, 'plan', 1, null, '{"steps":[]}', 'x') RETURNING id`,
    [tenant],
  )) as { id: string }[];
  return wf!.id;
}

/** The store's `Sql` over a query runner (its transaction); TypeORM answers an UPDATE … RETURNING with [rows, count]. */
export function runnerSql(runner: QueryRunner): Sql {
  return {
    rows: async <T>(text: string, params: readonly unknown[] = []) => {
      const r = (await runner.query(text, [...params])) as unknown[];
      return (Array.isArray(r[0]) ? r[0] : r) as T[];
    },
  };
}

/**
 * Rows an executed plan (EXPLAIN ANALYZE, text) read from `table`: each scan of it (sequential,
 * index, bitmap heap) counts the rows it returned and those its filter removed, times its loops
 * (EXPLAIN reports both per loop). What a store-level test asserts instead of a time.
 */
export function rowsReadFrom(plan: string, table: string): number {
  const scan = new RegExp(`(?:Seq Scan|Scan(?: Backward)? using \\S+|Bitmap Heap Scan) on ${table} .*actual time=\\S+ rows=([\\d.]+) loops=(\\d+)`);
  let rows = 0;
  let loops: number | null = null;
  for (const line of plan.split('\n')) {
    const node = scan.exec(line);
    if (node) {
      loops = Number(node[2]);
      rows += Number(node[1]) * loops;
      continue;
    }
    // Another plan node ends the scan's own lines.
    if (/->|^\S/.test(line)) loops = null;
    const removed = /Rows Removed by Filter: (\d+)/.exec(line);
    if (removed && loops !== null) rows += Number(removed[1]) * loops;
  }
  return Math.round(rows);
}
