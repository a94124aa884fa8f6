import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { collect, startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { freePort } from '../helpers/net';

/** The README's GraphQL blocks, by operation name: the tour is tested exactly as written. */
function readmeOperations(): Record<string, string> {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const ops: Record<string, string> = {};
  for (const [, body] of readme.matchAll(/```graphql\n([\s\S]*?)```/g)) {
    const name = /^(?:mutation|query|subscription)\s+(\w+)/m.exec(body!)?.[1];
    if (name) ops[name] = body!;
  }
  return ops;
}

describe('the README tour', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    // Not the default 4000: the tour must not depend on the port the conductor listens on.
    port = await freePort();
    t = await startTestApp({ env: { PORT: String(port) } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('works as written: register, start, watch live over graphql-ws, read the result', async () => {
    const ops = readmeOperations();
    expect(Object.keys(ops)).toEqual(['Register', 'Start', 'Watch', 'Result', 'RegisterOrder', 'StartOrder', 'Why', 'Approve', 'Shipped']);
    // As written: the http step's "/healthz" is this conductor, here on a free port (not 4000).
    expect(t.app.port).toBe(port);
    expect(port).not.toBe(4000);
    expect(ops['Register']).not.toMatch(/localhost|127\.0\.0\.1|:4000/);

    const { registerWorkflow } = await t.ok(ops['Register']!);
    expect(registerWorkflow).toEqual({ name: 'hello', version: 1 });

    const { startRun } = await t.ok(ops['Start']!);
    // RUNNING when its first step (noop) was claimed in the start itself (a free executor slot),
    // else PENDING until the dispatcher claims it.
    expect(['PENDING', 'RUNNING']).toContain(startRun.status);

    const sub = collect<{ runUpdated: { seq: number; type: string; status: string; taskKey: string | null } }>(
      t.ws(),
      ops['Watch']!.replace('RUN_ID', startRun.id),
      {},
      (items) => items.some((i) => i.runUpdated.type === 'RUN_STATUS' && i.runUpdated.status === 'SUCCEEDED'),
    );
    const events = (await sub.done).map((i) => i.runUpdated);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]).toMatchObject({ type: 'RUN_STATUS', status: 'PENDING' });

    await waitForRun(t, startRun.id);
    const { run } = await t.ok(ops['Result']!.replace('RUN_ID', startRun.id));
    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toEqual({ done: { said: 'Hello, Ada!', status: 'ok' } });
    expect(run.tasks.map((x: { key: string; status: string }) => [x.key, x.status])).toEqual([
      ['greet', 'SUCCEEDED'],
      ['pause', 'SUCCEEDED'],
      ['health', 'SUCCEEDED'],
      ['done', 'SUCCEEDED'],
    ]);
  });

  it('works as written: a condition, a fan-out and an approval signal', async () => {
    const ops = readmeOperations();
    const { registerWorkflow } = await t.ok(ops['RegisterOrder']!);
    expect(registerWorkflow).toEqual({ name: 'order', version: 1 });

    const { startRun } = await t.ok(ops['StartOrder']!);
    const id: string = startRun.id;
    // The run waits for the approval: waitingFor says so.
    let why: { status: string; waitingFor: { kind: string; taskKey: string; name?: string }[] } | undefined;
    for (let i = 0; i < 200; i++) {
      why = (await t.ok(ops['Why']!.replace('RUN_ID', id))).run;
      if (why!.waitingFor.some((w) => w.kind === 'SIGNAL')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(why!.waitingFor).toEqual([
      { kind: 'SIGNAL', taskKey: 'approve', name: 'approve' },
      { kind: 'DEPENDENCIES', taskKey: 'ship' },
    ]);

    const { signalRun } = await t.ok(ops['Approve']!.replace('RUN_ID', id));
    expect(signalRun.id).toBe(id);
    await waitForRun(t, id);
    const { run } = await t.ok(ops['Shipped']!.replace('RUN_ID', id));
    expect(run.status).toBe('SUCCEEDED');
    const approval = { by: 'Ada' };
    expect(run.output).toEqual({
      ship: [
        { sku: 'A1', line: 0, approval },
        { sku: 'B2', line: 1, approval },
        { sku: 'C3', line: 2, approval },
      ],
    });
    const items = run.tasks.filter((x: { index: number | null }) => x.index !== null);
    expect(items.map((x: { key: string; status: string; index: number }) => [x.key, x.status, x.index])).toEqual([
      ['ship', 'SUCCEEDED', 0],
      ['ship', 'SUCCEEDED', 1],
      ['ship', 'SUCCEEDED', 2],
    ]);

    // Under 100: the approval is skipped at once and the items ship without waiting.
    const small = await t.ok(ops['StartOrder']!.replace('amount: 250', 'amount: 50'));
    await waitForRun(t, small.startRun.id);
    const done = (await t.ok(ops['Shipped']!.replace('RUN_ID', small.startRun.id))).run;
    expect(done.status).toBe('SUCCEEDED');
    expect(done.tasks.find((x: { key: string; index: number | null }) => x.key === 'approve')).toMatchObject({ status: 'SKIPPED' });
    expect(done.output.ship.map((o: { approval: unknown }) => o.approval)).toEqual([null, null, null]);
  });

  it('serves Playground as the landing page, with its scripts from the conductor itself', async () => {
    const page = await fetch(t.app.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('GraphQL Playground');
    const script = /src="([^"]*middleware\.js)"/.exec(html)?.[1];
    expect(script).toMatch(/^\/playground\//);
    const js = await fetch(new URL(script!, t.app.url));
    expect(js.status).toBe(200);
    // Every asset the page names (script, stylesheet, icon) is served by the conductor, from vendor/playground.
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      expect(asset, 'no outside URL').toMatch(/^\/playground\//);
      expect((await fetch(new URL(asset, t.app.url))).status, asset).toBe(200);
    }
  });

  it("streams to Playground's legacy subscription protocol on the same path", async () => {
    const { startRun } = await t.ok(`mutation { startRun(workflow: "hello", input: { name: "Bo" }) { id } }`);
    const client = new SubscriptionClient(t.app.url.replace(/^http/, 'ws'), { reconnect: false }, WebSocket);
    try {
      const statuses = await new Promise<string[]>((resolve, reject) => {
        const seen: string[] = [];
        const timer = setTimeout(() => reject(new Error(`timed out after ${JSON.stringify(seen)}`)), 15_000);
        client.request({ query: `subscription($id: ID!) { runUpdated(id: $id, afterSeq: 0) { seq type status } }`, variables: { id: startRun.id } }).subscribe({
          next: (r) => {
            if (r.errors) return reject(new Error(JSON.stringify(r.errors)));
            const e = (r.data as { runUpdated: { type: string; status: string } }).runUpdated;
            seen.push(`${e.type}:${e.status}`);
            if (e.type === 'RUN_STATUS' && e.status === 'SUCCEEDED') {
              clearTimeout(timer);
              resolve(seen);
            }
          },
          error: reject,
        });
      });
      expect(statuses[0]).toBe('RUN_STATUS:PENDING');
      expect(statuses.at(-1)).toBe('RUN_STATUS:SUCCEEDED');
    } finally {
      client.close();
    }
  });
});
