/**
 * The benchmark's peers close what they open: a side's `close()` ends every pool it made before
 * its database is dropped, and the drop refuses (naming who) when a connection is left over.
 * Without this a side's idle clients were terminated by `DROP DATABASE … WITH (FORCE)` and their
 * unhandled `'error'` killed the quick benchmark in `.ci/run`.
 */
import { Client } from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { BenchContext } from '../../bench/lib/harness';
import { createBenchDatabase, LeftoverConnectionsError } from '../../bench/lib/services';
import { startGraphile } from '../../bench/peers/graphile';
import { REAL_POSTGRES } from '../helpers/db';

const postgresUrl = process.env['DATABASE_URL'] ?? '';

const ctx: BenchContext = {
  quick: true,
  postgresUrl,
  redisUrl: process.env['REDIS_URL'] ?? '',
  progress: () => undefined,
  scale: (_full, quick) => quick,
};

async function databaseExists(name: string): Promise<boolean> {
  const c = new Client({ connectionString: postgresUrl });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
}

async function terminateIdle(database: string, applicationName: string): Promise<number> {
  const c = new Client({ connectionString: postgresUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 AND state = 'idle'`,
      [database, applicationName],
    );
    return rows.filter((r) => r.ok).length;
  } finally {
    await c.end();
  }
}

// The bench runs against a real server only (it drops databases and compares against peers there).
describe.runIf(REAL_POSTGRES)('bench sides tear down cleanly', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
  });

  it('graphile-worker: close ends both of its pools, then the database is dropped', async () => {
    const g = await startGraphile(ctx, { batched: true, concurrency: 4 });
    const name = new URL(g.pools.runner.options.connectionString!).pathname.slice(1);
    let done = 0;
    let allDone!: () => void;
    const finished = new Promise<void>((r) => (allDone = r));
    await g.start({ noop: () => void (++done === 20 && allDone()) });
    await g.utils.addJobs(Array.from({ length: 20 }, () => ({ identifier: 'noop', payload: {} })));
    await finished;
    expect(done).toBe(20);
    await g.close();
    expect(g.pools.runner.ended && g.pools.utils.ended).toBe(true);
    expect(await databaseExists(name)).toBe(false);
  });

  it('graphile-worker: an idle connection terminated under the side does not kill the process', async () => {
    const g = await startGraphile(ctx, { batched: false, concurrency: 2 });
    const name = new URL(g.pools.utils.options.connectionString!).pathname.slice(1);
    await g.start({ noop: () => undefined });
    await g.utils.addJob('noop', {});
    const errors: Error[] = [];
    let firstError!: () => void;
    const errored = new Promise<void>((r) => (firstError = r));
    const onError = (e: Error) => void (errors.push(e), firstError());
    g.pools.runner.on('error', onError);
    g.pools.utils.on('error', onError);
    // Let the pools go idle, then pull connections out from under them as a FORCE drop would.
    await new Promise((r) => setTimeout(r, 200));
    const killed = (await terminateIdle(name, 'bench-graphile-utils')) + (await terminateIdle(name, 'bench-graphile-runner'));
    console.log(`terminated ${killed} idle connection(s) of the graphile side`);
    expect(killed).toBeGreaterThan(0);
    await errored;
    expect(errors.length).toBeGreaterThan(0);
    await g.close();
    expect(await databaseExists(name)).toBe(false);
  });

  it('refuses to drop a database a side left a connection open to, and names it', async () => {
    const db = await createBenchDatabase(postgresUrl);
    const leak = new Client({ connectionString: db.url, application_name: 'forgotten-pool' });
    await leak.connect();
    cleanup.push(async () => {
      await leak.end();
      await db.drop();
    });
    const err = await db.drop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeftoverConnectionsError);
    expect((err as LeftoverConnectionsError).message).toContain('forgotten-pool');
    expect(await databaseExists(db.name)).toBe(true);
  });
});
