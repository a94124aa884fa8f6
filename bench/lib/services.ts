/**
 * The services every side shares: one Postgres server (a fresh database per sample) and one
 * Redis (a key prefix or a flush per sample), plus what they are set to, for the JSON report.
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `maestro_bench_${randomBytes(5).toString('hex')}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined) };
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
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform },
      postgres: pg,
      redis: { version: /redis_version:(\S+)/.exec(info)?.[1], save: save ?? '', appendonly },
    };
  } finally {
    redis.disconnect();
  }
}
