/**
 * The `maestro` CLI as users run it: the real binary (bin/maestro.js, a child process) against a
 * real conductor on a free port. Both modes: with DATABASE_URL/REDIS_URL the conductor runs on
 * them, without on the embedded database.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { createTestDatabase } from '../helpers/db';
import { ROOT, waitFor } from '../helpers/processes';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Running {
  result: Promise<Result>;
  stdout(): string;
}

/** Starts `node bin/maestro.js …` with only the environment given (plus PATH and HOME). */
function start(args: string[], env: Record<string, string | undefined> = {}, cwd = ROOT): Running {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'maestro.js'), ...args], {
    cwd,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<Result>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { result, stdout: () => stdout };
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'maestro-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A mutation of the README's tour, by operation name (the README and examples/ must agree). */
function readmeMutation(name: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const found = new RegExp('```graphql\\n(mutation ' + name + ' \\{[\\s\\S]*?)```').exec(readme);
  if (!found) throw new Error(`README.md has no mutation ${name}`);
  return found[1]!;
}

/** A loopback port with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const QUICK = `name: quick
steps:
  - key: a
    type: noop
    input: { n: "{{ input.n }}" }
  - key: b
    type: noop
    dependsOn: [a]
    input: { twice: "{{ steps.a.output.n }}" }
`;

describe('maestro against a development conductor', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const maestro = (...args: string[]) => start(args, env).result;

  beforeAll(async () => {
    t = await startTestApp();
    env = { MAESTRO_URL: t.app.url };
  });
  afterAll(() => t.close());

  it('applies a workflow from the examples/ YAML, and again unchanged; --output json parses', async () => {
    const first = await maestro('workflow', 'apply', '-f', 'examples/hello.yaml');
    expect(first).toMatchObject({ code: 0, stdout: 'Registered hello version 1 (4 steps).\n' });
    const again = await maestro('--output', 'json', 'workflow', 'apply', '-f', 'examples/hello.yaml');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ name: 'hello', version: 1, changed: false });
    const listed = await maestro('-o', 'json', 'workflow', 'list');
    expect((JSON.parse(listed.stdout) as { name: string; version: number }[]).find((w) => w.name === 'hello')).toMatchObject({ version: 1 });
    // The README tour's registerWorkflow is the same definition: it returns version 1 again.
    expect(await t.ok(readmeMutation('Register'))).toEqual({ registerWorkflow: { name: 'hello', version: 1 } });
    const got = await maestro('workflow', 'get', 'hello');
    expect(got.stdout).toContain('# hello version 1');
    expect(got.stdout).toContain('url: /healthz');
  });

  it('--dry-run prints the diff to the registered version and registers nothing', async () => {
    const changed = file('hello-changed.yaml', readFileSync(join(ROOT, 'examples/hello.yaml'), 'utf8').replace('ms: 2000', 'ms: 1500'));
    await maestro('workflow', 'apply', '-f', 'examples/hello.yaml');
    const dry = await maestro('workflow', 'apply', '-f', changed, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('--- hello version 1 (registered)');
    expect(dry.stdout).toContain('-      ms: 2000\n+      ms: 1500');
    expect(dry.stdout).toContain('Would register hello version 2 (dry run: nothing registered).');
    const asJson = JSON.parse((await maestro('-o', 'json', 'workflow', 'apply', '-f', changed, '--dry-run')).stdout) as Record<string, unknown>;
    expect(asJson).toMatchObject({ name: 'hello', registeredVersion: 1, changed: true, version: 2 });
    expect(asJson['diff']).toContain('+      ms: 1500');
    const { workflow } = await t.ok<{ workflow: { version: number } }>('{ workflow(name: "hello") { version } }');
    expect(workflow.version).toBe(1);
  });

  it('refuses an invalid file locally with the server message, exit 2, one line', async () => {
    const bad = file('bad.yaml', 'name: loop\nsteps:\n  - { key: a, type: noop, dependsOn: [b] }\n  - { key: b, type: noop, dependsOn: [a] }\n');
    const local = await maestro('workflow', 'apply', '-f', bad);
    expect(local.code).toBe(2);
    expect(local.stdout).toBe('');
    expect(local.stderr.trim().split('\n')).toHaveLength(1);
    const server = await t.gql(
      'mutation { registerWorkflow(input: { name: "loop", steps: [{ key: "a", type: "noop", dependsOn: ["b"] }, { key: "b", type: "noop", dependsOn: ["a"] }] }) { version } }',
    );
    expect(server.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(local.stderr).toBe(`maestro: BAD_USER_INPUT: ${server.errors![0]!.message}\n`);
    const typo = await maestro('workflow', 'apply', '-f', file('typo.yaml', 'name: t\nsteps:\n  - { key: a, typ: noop }\n'));
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^maestro: INVALID_FILE: .*steps\[0\] has no field "typ"; the fields are key, type/);
  });

  it('run start --watch exits 0 when the run succeeds, each step shown; --output json gives the events in order', async () => {
    await maestro('workflow', 'apply', '-f', file('quick.yaml', QUICK));
    const watched = await maestro('run', 'start', 'quick', '--input', '{"n":2}', '--watch');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/step {2}a {2}SUCCEEDED {2}attempt 1/);
    expect(watched.stdout).toMatch(/step {2}b {2}SUCCEEDED {2}attempt 1/);
    expect(watched.stdout.trim().split('\n').at(-1)).toMatch(/run {3}SUCCEEDED$/);
    expect(watched.stderr).toMatch(/Run [0-9a-f-]{36} SUCCEEDED\n$/);

    const input = file('input.json', '{"n":3}');
    const json = await maestro('-o', 'json', 'run', 'start', 'quick', '--input-file', input, '--watch');
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    const [first, ...events] = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    // RUNNING when its first step (noop) was claimed in the start itself, else PENDING.
    expect(first!['run']).toMatchObject({ status: expect.stringMatching(/^(PENDING|RUNNING)$/), workflow: { name: 'quick', version: 1 } });
    const seqs = events.map((e) => e['seq'] as number);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ type: 'RUN_STATUS', status: 'SUCCEEDED', runId: first!['run'].id });

    // A finished run watched later: its stored events replay, same exit code.
    const later = await maestro('-o', 'json', 'run', 'watch', first!['run'].id);
    expect(later.code).toBe(0);
    expect(later.stdout.trim().split('\n')).toHaveLength(events.length);
  });

  it('run start --watch exits 1 when the run fails', async () => {
    const port = await closedPort();
    const failing = `name: failing\nsteps:\n  - key: call\n    type: http\n    retry: { maxAttempts: 1 }\n    input: { url: "http://127.0.0.1:${port}/" }\n`;
    expect((await maestro('workflow', 'apply', '-f', file('failing.yaml', failing))).code).toBe(0);
    const watched = await maestro('run', 'start', 'failing', '--watch');
    expect(watched.code).toBe(1);
    expect(watched.stdout).toMatch(/step {2}call {2}FAILED {2}attempt 1/);
    expect(watched.stderr).toMatch(/FAILED\n$/);
  });

  it('a waiting run takes a signal from run signal; run cancel ends another watch with exit 6', async () => {
    expect((await maestro('workflow', 'apply', '-f', 'examples/order.yaml')).code).toBe(0);
    // when, forEach and maxConcurrency read back from the conductor compare equal to the file.
    expect(await maestro('workflow', 'apply', '-f', 'examples/order.yaml', '--dry-run')).toMatchObject({
      code: 0,
      stdout: 'order version 1 is identical: applying would change nothing.\n',
    });
    expect(await t.ok(readmeMutation('RegisterOrder'))).toEqual({ registerWorkflow: { name: 'order', version: 1 } });
    const approved = start(['-o', 'json', 'run', 'start', 'order', '--input-file', 'examples/order-input.json', '--watch'], env);
    const runId = await waitFor(
      () => (approved.stdout().includes('"run"') ? (JSON.parse(approved.stdout().split('\n')[0]!) as { run: { id: string } }).run.id : null),
      'the run id',
    );
    await waitFor(() => approved.stdout().includes('"taskKey":"approve"'), 'the approve step');
    const signalled = await maestro('-o', 'json', 'run', 'signal', runId, 'approve', '--payload', '{"by":"Ada"}');
    expect(signalled.code).toBe(0);
    expect(JSON.parse(signalled.stdout)).toMatchObject({ id: runId });
    expect((await approved.result).code).toBe(0);
    const { run } = await t.ok<{ run: { tasks: { key: string; status: string }[] } }>(`{ run(id: "${runId}") { tasks { key status } } }`);
    expect(run.tasks.filter((x) => x.key === 'ship' && x.status === 'SUCCEEDED').length).toBeGreaterThanOrEqual(3);

    const cancelled = start(['run', 'start', 'order', '--input-file', 'examples/order-input.json', '--watch'], env);
    await waitFor(() => /approve {2}QUEUED/.test(cancelled.stdout()), 'the approve step queued');
    const { runs } = await t.ok<{ runs: { nodes: { id: string }[] } }>('{ runs(first: 1, filter: { status: [RUNNING] }) { nodes { id } } }');
    const cancel = await maestro('run', 'cancel', runs.nodes[0]!.id);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toMatch(/^Run [0-9a-f-]{36} of order v1: CANCELLED \(Cancelled by request\)\n$/);
    const ended = await cancelled.result;
    expect(ended.code).toBe(6);
  });

  it('run watch resumes after a dropped connection from the last sequence seen: nothing missed, nothing twice', async () => {
    // A proxy between the CLI and the conductor whose connections the test cuts.
    const sockets = new Set<Socket>();
    let connections = 0;
    let cut = false;
    /** What the conductor sent over the connections made after the cut (unmasked, server to client). */
    let sentAfterCut = '';
    const target = new URL(t.app.url);
    const proxy = createServer((client) => {
      connections++;
      const upstream = connect(Number(target.port), target.hostname);
      if (cut) upstream.on('data', (d: Buffer) => (sentAfterCut += d.toString('latin1')));
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const gated = 'name: gated\nsteps:\n  - { key: wait, type: signal, input: { name: go } }\n  - { key: after, type: noop, dependsOn: [wait] }\n';
      expect((await maestro('workflow', 'apply', '-f', file('gated.yaml', gated))).code).toBe(0);
      const { startRun } = await t.ok<{ startRun: { id: string } }>('mutation { startRun(workflow: "gated") { id } }');
      const port = (proxy.address() as { port: number }).port;
      const watch = start(['-o', 'json', 'run', 'watch', startRun.id], { MAESTRO_URL: `http://127.0.0.1:${port}/graphql` });
      await waitFor(() => watch.stdout().includes('"taskKey":"wait","attempt":1'), 'the signal step running');
      const seenBeforeCut = watch.stdout().trim().split('\n').length;
      const connectionsBeforeCut = connections;
      cut = true;
      for (const s of sockets) s.destroy();
      // Events happen while the CLI is disconnected: the resumed subscription must replay them.
      await t.ok(`mutation { signalRun(id: "${startRun.id}", name: "go") { id } }`);
      const res = await watch.result;
      expect(res.code, res.stderr).toBe(0);
      // It connected again (the HTTP request before the subscription was its first connection).
      expect(connections).toBeGreaterThan(connectionsBeforeCut);
      const events = res.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { seq: number; type: string; status: string });
      const seqs = events.map((e) => e.seq);
      console.log(`run watch: ${seenBeforeCut} events before the cut, ${events.length} in all, ${connections - connectionsBeforeCut} reconnection(s)`);
      expect(seenBeforeCut).toBeLessThan(events.length);
      // The resumed subscription asked for the events after the last one seen: only those came.
      expect(sentAfterCut.match(/"seq":/g)?.length).toBe(events.length - seenBeforeCut);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect(events.at(-1)).toMatchObject({ type: 'RUN_STATUS', status: 'SUCCEEDED' });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('run list --output json parses; errors are one line with their code and exit code', async () => {
    await maestro('workflow', 'apply', '-f', file('quick.yaml', QUICK));
    for (const n of [1, 2]) await t.ok(`mutation { startRun(workflow: "quick", input: { n: ${n} }) { id } }`);
    const list = await maestro('-o', 'json', 'run', 'list', '--workflow', 'quick', '--limit', '5');
    expect(list.code).toBe(0);
    const runs = JSON.parse(list.stdout) as { workflow: { name: string } }[];
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.every((r) => r.workflow.name === 'quick')).toBe(true);

    const missing = await maestro('run', 'watch', '00000000-0000-4000-8000-000000000000');
    expect(missing).toMatchObject({ code: 3, stdout: '' });
    expect(missing.stderr).toMatch(/^maestro: NOT_FOUND: run "00000000-0000-4000-8000-000000000000" was not found/);
    const refused = await maestro('-o', 'json', 'run', 'start', 'no-such-workflow');
    expect(refused.code).toBe(3);
    expect(JSON.parse(refused.stderr)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const badJson = await maestro('run', 'start', 'quick', '--input', '{nope');
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/^maestro: USAGE: --input is not JSON/);
    const unreachable = await start(['run', 'list'], { MAESTRO_URL: `http://127.0.0.1:${await closedPort()}` }).result;
    expect(unreachable.code).toBe(5);
    expect(unreachable.stderr).toMatch(/^maestro: UNAVAILABLE: cannot reach the conductor at http:\/\/127\.0\.0\.1:\d+\/graphql: ECONNREFUSED/);
    const unknownCommand = await maestro('run', 'strat');
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toMatch(/^maestro: USAGE: unknown command 'strat'\n\(Did you mean start\?\)/);
  });

  it('--help works for every command', async () => {
    for (const args of [[], ['workflow'], ['workflow', 'apply'], ['run'], ['run', 'watch'], ['run', 'signal'], ['apikey', 'create'], ['worker']]) {
      const help = await maestro(...args, '--help');
      expect(help.code, args.join(' ')).toBe(0);
      expect(help.stdout, args.join(' ')).toMatch(/^Usage: /);
    }
  });

  it('mints API keys through the conductor in development mode (no key needed)', async () => {
    const created = await maestro('-o', 'json', 'apikey', 'create', '--tenant', 'dev-cli', '--name', 'ci');
    expect(created.code).toBe(0);
    const { key, apiKey } = JSON.parse(created.stdout) as { key: string; apiKey: { id: string; tenant: string; admin: boolean } };
    expect(apiKey).toMatchObject({ tenant: 'dev-cli', admin: false });
    const asTenant = await start(['-o', 'json', 'run', 'list'], { ...env, MAESTRO_API_KEY: key }).result;
    expect(asTenant).toMatchObject({ code: 0, stdout: '[]\n' });
  });
});

describe('maestro apikey and worker against a production conductor', () => {
  let t: TestApp;
  let admin: string;
  let tenantKey: string;
  const as = (key: string | undefined, ...args: string[]) => start(args, { MAESTRO_URL: t.app.url, ...(key ? { MAESTRO_API_KEY: key } : {}) }).result;

  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'production' } });
    admin = (await t.app.services.auth.createKey('ops', 'bootstrap', { admin: true })).key;
    tenantKey = (await t.app.services.auth.createKey('acme')).key;
  });
  afterAll(() => t.close());

  it('an admin key creates, lists and revokes keys; the new key works until revoked', async () => {
    const created = await as(admin, '-o', 'json', 'apikey', 'create', '--tenant', 'acme', '--name', 'deploy');
    expect(created.code).toBe(0);
    const { key, apiKey } = JSON.parse(created.stdout) as { key: string; apiKey: { id: string } };
    expect((await as(key, 'run', 'list')).code).toBe(0);
    const listed = JSON.parse((await as(admin, '-o', 'json', 'apikey', 'list', '--tenant', 'acme')).stdout) as { id: string; revokedAt: string | null }[];
    expect(listed.find((k) => k.id === apiKey.id)).toMatchObject({ revokedAt: null });
    const revoked = await as(admin, 'apikey', 'revoke', apiKey.id);
    expect(revoked).toMatchObject({ code: 0, stdout: `Revoked ${apiKey.id} (tenant "acme", ${key.slice(0, 10)}…).\n` });
    const after = await as(key, 'run', 'list');
    expect(after.code).toBe(4);
    expect(after.stderr).toBe('maestro: UNAUTHENTICATED: The API key is not valid or was revoked (set --api-key or MAESTRO_API_KEY)\n');
  });

  it('apikey revoke not-an-id says the id is not a key id', async () => {
    const res = await as(admin, 'apikey', 'revoke', 'not-an-id');
    expect(res.code).toBe(3);
    expect(res.stderr).toBe('maestro: BAD_USER_INPUT: "not-an-id" is not a key id: key ids are UUIDs, as `apikey list` shows them\n');
  });

  it('a tenant key may not manage keys (exit 4, FORBIDDEN); no key is UNAUTHENTICATED', async () => {
    const forbidden = await as(tenantKey, 'apikey', 'create', '--tenant', 'acme');
    expect(forbidden.code).toBe(4);
    expect(forbidden.stderr).toMatch(/^maestro: FORBIDDEN: Managing API keys needs an admin key/);
    const anonymous = await as(undefined, '-o', 'json', 'apikey', 'list');
    expect(anonymous.code).toBe(4);
    expect(JSON.parse(anonymous.stderr)).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  });

  it('a worker with a wrong or missing key exits 4 with one line', async () => {
    for (const key of ['mk_wrong', undefined]) {
      const res = await as(key, 'worker', '--queue', 'demo', '--handler', 'src/worker-sdk/examples/echo.ts');
      expect(res.code, String(key)).toBe(4);
      expect(res.stderr.trim().split('\n'), String(key)).toHaveLength(1);
      expect(res.stderr).toMatch(/^worker: the conductor refused the API key: /);
    }
  });
});

describe('a running worker whose key is revoked', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'production' } });
  });
  afterAll(() => t.close());

  it('exits 4 with one line at its next claim instead of retrying', async () => {
    const { key, row } = await t.app.services.auth.createKey('acme');
    const worker = start(['worker', '--queue', 'revoked', '--handler', 'src/worker-sdk/examples/echo.ts', '--log-level', 'warn'], {
      MAESTRO_URL: t.app.url,
      MAESTRO_API_KEY: key,
    });
    // Claiming: its queue has been polled.
    await waitFor(async () => (await t.app.services.waits.pollsOf('acme', ['revoked'])).has('revoked'), 'the worker polling its queue');
    const revokedAt = performance.now();
    await t.app.services.auth.revokeKey(row.id);
    const res = await worker.result;
    // The claim in flight is a long poll of up to 20 s; the next one is refused.
    console.log(`worker exited ${res.code} ${Math.round(performance.now() - revokedAt)} ms after the revocation`);
    expect(res.code, res.stderr).toBe(4);
    expect(res.stderr).toBe('worker: the conductor refused the API key: The API key is not valid or was revoked\n');
  }, 60_000);
});

describe('npm run apikey (direct database access, for the first admin key)', () => {
  it('creates an admin key in production without REDIS_URL', async () => {
    const db = await createTestDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), 'maestro-cli-db-'));
    try {
      const res = await new Promise<Result>((resolve) => {
        const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/cli/apikey.ts', 'create', '--tenant', 'ops', '--admin'], {
          cwd: ROOT,
          // Real mode: the database only (REDIS_URL deliberately unset); embedded: a data folder of its own.
          env: {
            PATH: process.env['PATH'],
            HOME: process.env['HOME'],
            NODE_ENV: 'production',
            ...(db.url ? { DATABASE_URL: db.url } : { MAESTRO_DATA_DIR: dataDir }),
          },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('close', (code) => resolve({ code, stdout, stderr }));
      });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/^Created admin API key [0-9a-f-]{36} for tenant "ops"/);
    } finally {
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
