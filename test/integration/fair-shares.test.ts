/**
 * One tenant's hanging http steps do not hold the dispatch pool (issue #11, finding 4): 70 runs of
 * tenant A call a tarpit (a loopback listener that accepts and never answers), and tenant B's
 * one-step noop run still finishes promptly. Before fair shares, A's steps took every slot and B
 * waited for their timeouts.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { until } from '../helpers/gates';

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!) { startRun(workflow: $wf) { id } }`;
const RUN = `query($id: ID!) { run(id: $id) { status } }`;

describe('fair shares of built-in dispatch', () => {
  let t: TestApp;
  let tarpit: Server;
  const sockets = new Set<Socket>();
  let keyA: string;
  let keyB: string;

  beforeAll(async () => {
    tarpit = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    tarpit.listen(0, '127.0.0.1');
    await once(tarpit, 'listening');
    t = await startTestApp({
      env: { DISPATCH_CONCURRENCY: '8', DISPATCH_TENANT_CONCURRENCY: '4', HTTP_STEP_TENANT_CONCURRENCY: '3', SHUTDOWN_GRACE_MS: '0' },
    });
    keyA = (await t.app.services.auth.createKey('tenant-a')).key;
    keyB = (await t.app.services.auth.createKey('tenant-b')).key;
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await t?.close();
    tarpit?.close();
  });

  it("another tenant's noop run finishes while tenant A's tarpit steps hold their share", async () => {
    const port = (tarpit.address() as { port: number }).port;
    await t.ok(
      REGISTER,
      { input: { name: 'tarpit', steps: [{ key: 'call', type: 'http', input: { url: `http://127.0.0.1:${port}/` }, timeoutMs: 120_000 }] } },
      keyA,
    );
    await t.ok(REGISTER, { input: { name: 'quick', steps: [{ key: 'a', type: 'noop' }] } }, keyB);
    for (let i = 0; i < 70; i++) await t.ok(START, { wf: 'tarpit' }, keyA);
    // A holds its http share (3 of 8), no more.
    await until(() => sockets.size >= 3, 'A to hold its http share');
    expect(sockets.size).toBe(3);
    expect(t.app.scheduler.tenantHolding('tenant-a')).toEqual({ total: 3, http: 3 });

    const started = Date.now();
    const { startRun } = await t.ok<{ startRun: { id: string } }>(START, { wf: 'quick' }, keyB);
    let status = 'PENDING';
    while (status !== 'SUCCEEDED' && Date.now() - started < 15_000) {
      status = (await t.ok<{ run: { status: string } }>(RUN, { id: startRun.id }, keyB)).run.status;
      if (status !== 'SUCCEEDED') await new Promise((r) => setTimeout(r, 20));
    }
    const ms = Date.now() - started;
    console.log(`tenant B's noop run finished in ${ms} ms while tenant A held ${sockets.size} tarpit connections`);
    expect(status).toBe('SUCCEEDED');
    expect(ms).toBeLessThan(10_000);
    // Still no more than A's share.
    expect(sockets.size).toBe(3);
  });

  it('eager dispatch keeps a tenant within its share too: a result that readies many http steps starts only its share', async () => {
    const port = (tarpit.address() as { port: number }).port;
    const keyC = (await t.app.services.auth.createKey('tenant-c')).key;
    const fan = Array.from({ length: 6 }, (_, i) => ({
      key: `f${i}`,
      type: 'http',
      dependsOn: ['root'],
      input: { url: `http://127.0.0.1:${port}/c` },
      timeoutMs: 120_000,
    }));
    await t.ok(REGISTER, { input: { name: 'fan', steps: [{ key: 'root', type: 'noop' }, ...fan] } }, keyC);
    const before = sockets.size;
    await t.ok(START, { wf: 'fan' }, keyC);
    const deadline = Date.now() + 10_000;
    while (t.app.scheduler.tenantHolding('tenant-c').http < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Many turns for an excess attempt to show up.
    await new Promise((r) => setTimeout(r, 300));
    expect(t.app.scheduler.tenantHolding('tenant-c')).toEqual({ total: 3, http: 3 });
    console.log(`tenant C holds ${t.app.scheduler.tenantHolding('tenant-c').http} http steps of its 6 ready; tarpit connections ${before} → ${sockets.size}`);
  });
});

describe('starts of a tenant at its share', () => {
  let t: TestApp;
  let gate: HttpServer;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    // Answers only when told to: each request holds an http step (and its slot) until then.
    gate = createHttpServer((_req, res) => void held.push(res));
    gate.listen(0, '127.0.0.1');
    await once(gate, 'listening');
    // No fallback poll within the test: every claim is one a wake-up asked for.
    t = await startTestApp({
      env: { DISPATCH_TENANT_CONCURRENCY: '4', HTTP_STEP_TENANT_CONCURRENCY: '2', SCHEDULER_POLL_INTERVAL_MS: '60000', SHUTDOWN_GRACE_MS: '0' },
    });
  });

  afterAll(async () => {
    for (const res of held.splice(0)) res.destroy();
    await t?.close();
    gate?.close();
  });

  it('wake no claim that could not give them anything, and run when their share frees', async () => {
    const keyG = (await t.app.services.auth.createKey('tenant-g')).key;
    const keyH = (await t.app.services.auth.createKey('tenant-h')).key;
    const port = (gate.address() as { port: number }).port;
    await t.ok(
      REGISTER,
      { input: { name: 'gated', steps: [{ key: 'call', type: 'http', input: { url: `http://127.0.0.1:${port}/` }, timeoutMs: 60_000 }] } },
      keyG,
    );
    await t.ok(REGISTER, { input: { name: 'quick', steps: [{ key: 'a', type: 'noop' }] } }, keyH);
    for (let i = 0; i < 2; i++) await t.ok(START, { wf: 'gated' }, keyG);
    await until(() => held.length === 2, 'G to hold its http share');
    // The claims those starts woke are over (each claim cut short by a share claims once more).
    await t.app.scheduler.settleTimers();

    let claims = 0;
    const onClaim = (e: { queue: string | null }) => void (e.queue === null && claims++);
    t.app.hooks.on('claim:committed', onClaim);
    try {
      for (let i = 0; i < 10; i++) await t.ok(START, { wf: 'gated' }, keyG);
      // A start answers once its ready signal was delivered here, so a claim it woke has begun:
      // 100 ms for any such claim to commit (nothing to wait on for one that never starts).
      await new Promise((r) => setTimeout(r, 100));
      console.log(`[fair-shares] 10 starts of a tenant at its http share: ${claims} built-in claims`);
      expect(claims).toBe(0);
      expect(t.app.scheduler.tenantHolding('tenant-g')).toEqual({ total: 2, http: 2 });

      // Another tenant's run still starts, and finishes: its root claimed in its start (eager
      // start: its share has room), and no claim after it, neither one per share that is full nor
      // one when H's slot frees (G waits for its own slots; H's give it nothing).
      const finished = new Promise<string>((resolve) => {
        const onFinished = (e: { tenantId: string; status: string }) => {
          if (e.tenantId !== 'tenant-h') return;
          t.app.hooks.off('run:finished', onFinished);
          resolve(e.status);
        };
        t.app.hooks.on('run:finished', onFinished);
      });
      await t.ok(START, { wf: 'quick' }, keyH);
      expect(await finished).toBe('SUCCEEDED');
      // A claim H's freed slot woke would have begun before the run finished (the slot frees before
      // the result commits): 100 ms for it to commit. (Not settleTimers: its timer pass wakes a claim.)
      await new Promise((r) => setTimeout(r, 100));
      console.log(`[fair-shares] another tenant's one-step run while G holds its share: ${claims} built-in claims`);
      expect(claims).toBe(0);
    } finally {
      t.app.hooks.off('claim:committed', onClaim);
    }
    // G's share frees: its queued steps start at once (not at the next poll, a minute away).
    for (const res of held.splice(0)) res.end('{}');
    await until(() => held.length === 2, "G's next steps to hold its share again");
    expect(t.app.scheduler.tenantHolding('tenant-g')).toEqual({ total: 2, http: 2 });
  });
});
