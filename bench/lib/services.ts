/**
 * The services every side shares: one Postgres server (a fresh database per sample) and one
 * Redis (a key prefix or a flush per sample), plus what they are set to, for the JSON report.
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client, Pool } from 'pg';

export interface BenchDatabase {
  url: string;
  name: string;
  /**
   * Drops the database after checking that its side closed everything it opened: a connection
   * still open here is a side that forgot a pool, whose idle clients `WITH (FORCE)` would
   * terminate and whose unhandled `'error'` would kill the harness. Throws
   * {@link LeftoverConnectionsError} naming them instead of dropping.
   */
  drop(): Promise<void>;
}

/** A side closed but left connections to its database open. */
export class LeftoverConnectionsError extends Error {
  readonly code = 'LEFTOVER_CONNECTIONS';
  constructor(
    readonly database: string,
    readonly connections: { applicationName: string; state: string | null }[],
  ) {
    const who = connections.map((c) => `${c.applicationName || '(no application_name)'} [${c.state ?? 'starting'}]`).join(', ');
    super(
      `${connections.length} connection(s) to ${database} still open after its side closed: ${who}. Close every pool the side opened before its database is dropped.`,
    );
    this.name = 'LeftoverConnectionsError';
  }
}

/**
 * A backend leaves pg_stat_activity a moment after its client's Terminate message (its exit is
 * asynchronous), so a closed pool may still be listed for a few milliseconds: look again for up
 * to this long before calling it a leak.
 */
const BACKEND_EXIT_GRACE_MS = 3000;

export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `maestro_bench_${randomBytes(5).toString('hex')}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () =>
      withClient(serverUrl, async (c) => {
        const left = await openConnections(c, name, BACKEND_EXIT_GRACE_MS);
        if (left.length) throw new LeftoverConnectionsError(name, left);
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

/** Connections to `database` other than this client's, once they stop going away or `graceMs` passes. */
async function openConnections(c: Client, database: string, graceMs: number): Promise<{ applicationName: string; state: string | null }[]> {
  const deadline = performance.now() + graceMs;
  for (;;) {
    const { rows } = await c.query<{ application_name: string; state: string | null }>(
      `SELECT application_name, state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    if (rows.length === 0 || performance.now() >= deadline) return rows.map((r) => ({ applicationName: r.application_name, state: r.state }));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A pool a side owns, named in pg_stat_activity, whose clients' errors (a restarted or
 * force-dropped server terminating them) are reported instead of killing the process: pg emits
 * them on the pool for idle clients and on the client for checked-out ones, and an `'error'`
 * event nobody listens to is thrown.
 */
export function benchPool(url: string, applicationName: string, max: number, onError: (e: Error) => void = reportPoolError(applicationName)): Pool {
  const pool = new Pool({ connectionString: url, application_name: applicationName, max });
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

function reportPoolError(applicationName: string): (e: Error) => void {
  return (e) => process.stderr.write(`[bench] ${applicationName}: idle connection error (ignored): ${e.message}\n`);
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Deletes every key under `prefix` (a side's leases, queues and markers), so runs leave nothing behind. */
export async function dropRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export function benchPrefix(side: string): string {
  return `bench-${side}-${randomBytes(3).toString('hex')}:`;
}

export function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(require.resolve(`${name}/package.json`, { paths: [process.cwd()] })), 'utf8')) as { version: string }).version;
  } catch {
    // Packages whose exports hide package.json: find it next to the entry point.
    let dir = require.resolve(name, { paths: [process.cwd()] });
    for (let i = 0; i < 6; i++) {
      dir = join(dir, '..');
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version: string };
        if (pkg.name === name) return pkg.version;
      } catch {
        /* keep climbing */
      }
    }
    return 'unknown';
  }
}

/** The settings that decide what the figures mean: durability, persistence, machine. */
export async function environment(postgresUrl: string, redisUrl: string): Promise<Record<string, unknown>> {
  const pg = await withClient(postgresUrl, async (c) => {
    const rows = await c.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'synchronous_commit', 'fsync', 'shared_buffers', 'max_connections', 'wal_level')`,
    );
    return Object.fromEntries(rows.rows.map((r) => [r.name, r.setting]));
  });
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  try {
    const info = await redis.info('server');
    const [, save] = (await redis.config('GET', 'save')) as string[];
    const [, appendonly] = (await redis.config('GET', 'appendonly')) as string[];
    return {
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: process.platform,
      },
      postgres: pg,
      redis: { version: /redis_version:(\S+)/.exec(info)?.[1], save: save ?? '', appendonly },
    };
  } finally {
    redis.disconnect();
  }
}
