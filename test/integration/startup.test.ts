// Start-up against dependencies that are down, missing or late (#12 finding 8), and /readyz when
// Redis stops answering at runtime. Every address is loopback: unreachable means a free port
// nobody listens on; Redis faults use a private redis-server, never the shared one.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app';
import { loadConfig, type Env } from '../../src/config';
import { StartupError } from '../../src/startup/describe';
import { REAL_POSTGRES, createTestDatabase, type TestDatabase } from '../helpers/db';
import { freePort } from '../helpers/net';
import { spawnRedisServer } from '../helpers/redis';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function env(extra: Env): Promise<Env> {
  const db: TestDatabase = await createTestDatabase();
  cleanups.push(() => db.drop());
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    MAESTRO_DATA_DIR: 'memory://',
    DATABASE_URL: db.url,
    REDIS_KEY_PREFIX: `test-${randomBytes(4).toString('hex')}:`,
    ...extra,
  };
}

async function startFails(e: Env): Promise<StartupError> {
  const started = Date.now();
  const error = await createApp(loadConfig(e)).then(
    (app) => {
      cleanups.push(() => app.stop());
      throw new Error('the app started');
    },
    (err: unknown) => err,
  );
  console.log(`start-up failed after ${Date.now() - started} ms: ${(error as Error).message}`);
  expect(error).toBeInstanceOf(StartupError);
  return error as StartupError;
}

const base = process.env['DATABASE_URL'];
const withDatabase = (name: string) => {
  const u = new URL(base!);
  u.pathname = `/${name}`;
  return u.toString();
};

describe('start-up failures name the variable and the host, and say what to check', () => {
  it('Redis down: not "Connection is closed." but where, through which variable, and no password', async () => {
    const port = await freePort();
    const error = await startFails(await env({ REDIS_URL: `redis://:hunter2@127.0.0.1:${port}` }));
    expect(error.message).toBe(
      `Cannot reach Redis at 127.0.0.1:${port} (REDIS_URL): connection refused. Check that Redis is running, that REDIS_URL names the right host and port, and that no firewall or NetworkPolicy blocks the way.`,
    );
    expect(error.target).toMatchObject({ variable: 'REDIS_URL', host: '127.0.0.1', port });
    expect(error.message).not.toContain('hunter2');
  });

  it('Postgres down: the host and port of DATABASE_URL, and no password', async () => {
    const port = await freePort();
    const error = await startFails(await env({ DATABASE_URL: `postgres://maestro:hunter2@127.0.0.1:${port}/maestro` }));
    expect(error.message).toMatch(
      new RegExp(`^Cannot reach Postgres at 127\\.0\\.0\\.1:${port} \\(DATABASE_URL\\): connection refused\\. Check that Postgres is running`),
    );
    expect(error.message).not.toContain('hunter2');
    expect(error.reason).toBe('connection refused');
  });

  it.runIf(REAL_POSTGRES)('a database that does not exist: its name, and how to create it', async () => {
    const name = `maestro_missing_${randomBytes(4).toString('hex')}`;
    const error = await startFails(await env({ DATABASE_URL: withDatabase(name) }));
    const { hostname: host, port } = new URL(base!);
    expect(error.message).toBe(
      `Postgres at ${host}:${port || 5432} (DATABASE_URL) has no database "${name}". Create it (createdb "${name}") or correct the database name in DATABASE_URL.`,
    );
  });

  it.runIf(REAL_POSTGRES)('a user Postgres does not know: the user, never a password', async () => {
    const u = new URL(base!);
    u.username = `nobody_${randomBytes(3).toString('hex')}`;
    u.password = 'hunter2';
    const error = await startFails(await env({ DATABASE_URL: u.toString() }));
    expect(error.message).toMatch(new RegExp(`Postgres at .* \\(DATABASE_URL\\) refused user "${u.username}"`));
    expect(error.message).not.toContain('hunter2');
  });
});

describe('STARTUP_WAIT_MS: waiting for dependencies instead of exiting', () => {
  it('listens at once: /healthz 200, /readyz 503 naming Redis, the API 503 UNAVAILABLE; ready once Redis comes up', async () => {
    const redisPort = await freePort();
    const port = await freePort();
    const e = await env({ PORT: String(port), REDIS_URL: `redis://127.0.0.1:${redisPort}`, STARTUP_WAIT_MS: '60000' });
    let app: App | undefined;
    const starting = createApp(loadConfig(e)).then((a) => (app = a));
    cleanups.push(async () => {
      await starting.catch(() => undefined);
      // Its keys go with the private redis-server (no persistence).
      await app?.stop();
    });
    const get = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${port}${path}`, init).catch(() => null);

    // Poll until start-up has said why it waits (the first attempt failed).
    let ready: Response | null = null;
    for (let i = 0; i < 200; i++) {
      ready = await get('/readyz');
      if (ready?.status === 503) {
        const body = (await ready.clone().json()) as { checks: Record<string, string> };
        if (body.checks['redis']?.startsWith('Cannot reach')) break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(ready?.status).toBe(503);
    expect(await ready!.json()).toEqual({
      status: 'starting',
      checks: { redis: expect.stringMatching(new RegExp(`^Cannot reach Redis at 127\\.0\\.0\\.1:${redisPort} \\(REDIS_URL\\): connection refused`)) },
      failing: ['redis'],
    });
    expect((await get('/healthz'))?.status).toBe(200);
    const api = await get('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(api?.status).toBe(503);
    expect(api?.headers.get('retry-after')).toBe('2');
    expect(((await api!.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAVAILABLE');
    expect(app).toBeUndefined();

    const redis: ChildProcess = await spawnRedisServer(redisPort);
    cleanups.push(() => redis.kill('SIGKILL'));
    const upAt = Date.now();
    await starting;
    console.log(`started ${Date.now() - upAt} ms after Redis came up`);
    expect((await get('/readyz'))?.status).toBe(200);
    expect(app!.port).toBe(port);
  }, 60_000);

  it.runIf(REAL_POSTGRES)(
    'waits for a database created after the conductor started',
    async () => {
      const name = `maestro_late_${randomBytes(4).toString('hex')}`;
      const admin = async (sql: string) => {
        const c = new Client({ connectionString: base });
        await c.connect();
        try {
          await c.query(sql);
        } finally {
          await c.end();
        }
      };
      cleanups.push(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      const port = await freePort();
      const e = await env({ PORT: String(port), DATABASE_URL: withDatabase(name), STARTUP_WAIT_MS: '60000', REDIS_URL: undefined });
      let app: App | undefined;
      const starting = createApp(loadConfig(e)).then((a) => (app = a));
      cleanups.push(async () => {
        await starting.catch(() => undefined);
        await app?.stop();
      });
      let body: { checks?: Record<string, string> } = {};
      for (let i = 0; i < 200 && !body.checks?.['database']?.includes('has no database'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        body = (await (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.json().catch(() => ({}))) ?? {};
      }
      expect(body.checks?.['database']).toContain(`has no database "${name}"`);
      await admin(`CREATE DATABASE ${name}`);
      await starting;
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    },
    60_000,
  );

  it('gives up after STARTUP_WAIT_MS with the last reason, leaving nothing listening', async () => {
    const redisPort = await freePort();
    const port = await freePort();
    const error = await startFails(await env({ PORT: String(port), REDIS_URL: `redis://127.0.0.1:${redisPort}`, STARTUP_WAIT_MS: '600' }));
    expect(error.message).toMatch(/^Cannot reach Redis at/);
    expect(await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => 'closed')).toBe('closed');
  });
});

describe('/readyz when Redis stops answering at runtime', () => {
  it('answers 503 naming redis within READINESS_TIMEOUT_MS (not 2 s), then 200 again', async () => {
    const redisPort = await freePort();
    const redis = await spawnRedisServer(redisPort);
    cleanups.push(() => redis.kill('SIGKILL'));
    const app = await createApp(loadConfig(await env({ REDIS_URL: `redis://127.0.0.1:${redisPort}` })));
    cleanups.push(() => app.stop());
    const readyz = async () => {
      const t0 = performance.now();
      const res = await fetch(new URL('/readyz', app.url));
      return { status: res.status, body: (await res.json()) as { failing?: string[] }, ms: performance.now() - t0 };
    };
    expect((await readyz()).status).toBe(200);

    // Frozen: the connection stays open and nothing answers (the slowest failure to notice).
    redis.kill('SIGSTOP');
    cleanups.push(() => redis.kill('SIGCONT'));
    const frozen = await readyz();
    console.log(`/readyz with Redis frozen answered ${frozen.status} in ${frozen.ms.toFixed(0)} ms (READINESS_TIMEOUT_MS 500)`);
    expect(frozen.status).toBe(503);
    expect(frozen.body.failing).toEqual(['redis']);
    // 500 ms per check, in parallel; margin for a loaded machine, still well under the old 2 s.
    expect(frozen.ms).toBeLessThan(1_500);
    redis.kill('SIGCONT');
    let back = await readyz();
    for (let i = 0; i < 100 && back.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      back = await readyz();
    }
    expect(back.status).toBe(200);
  }, 30_000);
});
