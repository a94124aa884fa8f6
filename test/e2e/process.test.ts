import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db';
import { freePort } from '../helpers/net';

const root = join(__dirname, '..', '..');

function startServer(env: Record<string, string | undefined>): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/server.ts'], {
    cwd: root,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the server process', () => {
  it.each([
    ['PORT', 'http'],
    ['DATABASE_URL', 'not-a-url'],
    ['NODE_ENV', 'staging'],
  ])('exits non-zero at start-up when %s is bad, with one line naming it', async (name, value) => {
    const { child, output } = startServer({ [name]: value });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(78);
    const lines = output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${name} must be `));
  });

  it('exits 1 with one fatal line naming the variable, host and port when Postgres cannot be reached', async () => {
    const port = await freePort();
    const { child, output } = startServer({
      HOST: '127.0.0.1',
      PORT: '0',
      METRICS_PORT: '0',
      DATABASE_URL: `postgres://maestro:hunter2@127.0.0.1:${port}/maestro`,
    });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    const fatal = output()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['level'] === 'fatal');
    expect(fatal).toEqual({
      level: 'fatal',
      msg: 'start-up failed',
      error: expect.stringMatching(
        new RegExp(`^Cannot reach Postgres at 127\\.0\\.0\\.1:${port} \\(DATABASE_URL\\): connection refused\\. Check that Postgres is running`),
      ),
      dependency: 'Postgres',
      variable: 'DATABASE_URL',
      host: '127.0.0.1',
      port,
      reason: 'connection refused',
    });
    expect(output()).not.toContain('hunter2');
  });

  it('serves /healthz and /readyz, then drains and exits 0 on SIGTERM', async () => {
    const testDb = await createTestDatabase();
    const port = 40_000 + Math.floor(Math.random() * 20_000);
    const { child, output } = startServer({
      PORT: String(port),
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: testDb.url,
      REDIS_URL: process.env['REDIS_URL'],
      MAESTRO_DATA_DIR: 'memory://',
    });
    try {
      await waitFor(() => output().includes('listening'), 'the server to listen');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: 'ok' } });
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number];
      expect(code).toBe(0);
      // One orderly drain: no "second signal" from a library re-raising SIGTERM.
      expect(output()).toMatch(/"msg":"draining"[\s\S]*"msg":"stopped"/);
      expect(output()).not.toMatch(/second signal/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await testDb.drop();
    }
  });
});
