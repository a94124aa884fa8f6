import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleRoutes } from '../../src/http/console';
import { startTestApp, type TestApp } from '../helpers/app';
import { UI_BUILD } from '../helpers/console-build';

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { name } }`;
const QUEUES = `{ queues { name depth running oldestQueuedAt lastPolledAt lastPollWorkerId workers { workerId tasks lastStartedAt } } }`;

describe('the web console over HTTP (/ui)', () => {
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'production' } });
    base = `http://127.0.0.1:${t.app.port}/ui`;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the built page under a CSP that allows only its own scripts (no inline, no eval)', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    const scriptSrc = csp.split(';').find((d) => d.startsWith('script-src'));
    expect(scriptSrc).toBe("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('answers client-side routes with the page (never cached), assets for a year, and 404 for a missing asset', async () => {
    const route = await fetch(`${base}/runs/6b1f0b8e-0000-4000-8000-000000000000`);
    expect(route.status).toBe(200);
    expect(route.headers.get('cache-control')).toBe('no-cache');
    expect(await route.text()).toContain('<div id="root">');

    const asset = readdirSync(`${UI_BUILD}/assets`).find((f) => f.endsWith('.js'))!;
    const js = await fetch(`${base}/assets/${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.headers.get('cache-control')).toMatch(/immutable/);
    expect((await fetch(`${base}/assets/nothing-here.js`)).status).toBe(404);
  });

  it('holds no data: the API still requires a key in production', async () => {
    const res = await fetch(`http://127.0.0.1:${t.app.port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: `http://127.0.0.1:${t.app.port}`, referer: `${base}/runs` },
      body: JSON.stringify({ query: QUEUES }),
    });
    expect(res.status).toBe(401);
  });
});

describe('consoleRoutes without a build', () => {
  let server: Server;
  beforeAll(async () => {
    const app = express();
    app.use('/ui', consoleRoutes(null));
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('says how to build it', async () => {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/ui/`);
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/run `npm run build`/);
  });
});

describe('Query.queues', () => {
  let t: TestApp;
  let key: string;
  let other: string;

  beforeAll(async () => {
    t = await startTestApp();
    key = (await t.app.services.auth.createKey('queues')).key;
    other = (await t.app.services.auth.createKey('queues-other')).key;
  });
  afterAll(async () => {
    await t?.close();
  });

  it("shows a tenant's queue depth, oldest waiting task, last poll and the workers holding tasks, to that tenant only", async () => {
    await t.ok(REGISTER, { input: { name: 'q', steps: [{ key: 'remote', type: 'work', queue: 'console-q' }] } }, key);
    const before = Date.now();
    await t.ok(`mutation { a: startRun(workflow: "q") { id } b: startRun(workflow: "q") { id } }`, {}, key);

    const queued = (await t.ok(QUEUES, {}, key)).queues;
    expect(queued).toEqual([
      { name: 'console-q', depth: 2, running: 0, oldestQueuedAt: expect.any(String), lastPolledAt: null, lastPollWorkerId: null, workers: [] },
    ]);
    expect(Date.parse(queued[0].oldestQueuedAt)).toBeGreaterThanOrEqual(before - 1000);

    await t.ok(`mutation { claimTasks(queue: "console-q", workerId: "w-1", max: 1) { taskId } }`, {}, key);
    const [q] = (await t.ok(QUEUES, {}, key)).queues;
    expect(q).toMatchObject({ name: 'console-q', depth: 1, running: 1, lastPollWorkerId: 'w-1', workers: [{ workerId: 'w-1', tasks: 1 }] });
    expect(q.lastPolledAt).toEqual(expect.any(String));

    expect((await t.ok(QUEUES, {}, other)).queues).toEqual([]);
  });
});
