import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Tenancy and authentication: a tenant comes from the API key, never from an argument, and no
 * query, mutation or subscription reaches another tenant's rows or events. In production every
 * request and WebSocket needs a valid, unrevoked key.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version steps { key type queue } } }`;
const START = `mutation($workflow: String!) { startRun(workflow: $workflow) { id status } }`;
const RUN = `query($id: ID!) { run(id: $id) { id status } }`;
const RUNS = `query { runs(first: 100) { nodes { id } totalCount } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { id status } }`;
const WORKFLOW = `query($name: String!) { workflow(name: $name) { id name version steps { key type queue } } }`;
const WORKFLOWS = `query { workflows { nodes { name version } totalCount } }`;
const RUN_UPDATED = `subscription($id: ID!) { runUpdated(id: $id, afterSeq: 0) { runId seq type status } }`;
const RUN_EVENTS = `subscription { runEvents { runId seq type status workflow } }`;

/** A step on a queue no worker claims from: its runs stay PENDING. */
const parked = (name: string) => ({ name, steps: [{ key: 'remote', type: 'work', queue: 'nobody-listens' }] });

interface Sub<T> {
  items: T[];
  /** Resolves once `pred` holds; rejects if the subscription errs, ends or the deadline passes first. */
  until(pred: (items: T[]) => boolean, timeoutMs?: number): Promise<T[]>;
  /** How it ended: GraphQL errors, a socket close, or completion. Rejects at the deadline. */
  ended(
    timeoutMs?: number,
  ): Promise<{ errors?: { message: string; extensions?: Record<string, unknown> }[]; close?: { code: number; reason: string }; complete?: true }>;
  dispose(): void;
}

/** A subscription whose results and end can be awaited (without sleeping). */
function subscribe<T>(client: WsClient, query: string, variables: Record<string, unknown> = {}): Sub<T> {
  const items: T[] = [];
  let end: Awaited<ReturnType<Sub<T>['ended']>> | null = null;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  const dispose = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) end = { errors: value.errors as never };
        else items.push(value.data as T);
        notify();
      },
      error: (e) => {
        const ev = e as { code?: unknown; reason?: unknown };
        end ??= typeof ev?.code === 'number' ? { close: { code: ev.code, reason: String(ev.reason ?? '') } } : { errors: e as never };
        notify();
      },
      complete: () => {
        end ??= { complete: true };
        notify();
      },
    },
  );
  const waitFor = <R>(check: () => R | undefined, what: string, timeoutMs: number): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify({ items, end }).slice(0, 2000)}`));
      }, timeoutMs);
      const listener = () => {
        let result: R | undefined;
        try {
          result = check();
        } catch (e: unknown) {
          clearTimeout(timer);
          listeners.delete(listener);
          reject(e);
          return;
        }
        if (result === undefined) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(result);
      };
      listeners.add(listener);
      listener();
    });
  return {
    items,
    until: (pred, timeoutMs = 15_000) =>
      waitFor(
        () => {
          if (pred(items)) return items;
          if (end) throw new Error(`subscription ended first: ${JSON.stringify(end)}; items ${JSON.stringify(items)}`);
          return undefined;
        },
        'a condition on the subscription',
        timeoutMs,
      ),
    ended: (timeoutMs = 15_000) => waitFor(() => end ?? undefined, 'the subscription to end', timeoutMs),
    dispose,
  };
}

/** Resolves with the status when a run of `workflow` of `tenantId` finishes (the engine's hook). */
function runFinished(t: TestApp, tenantId: string, workflow: string): Promise<string> {
  return new Promise((resolve) => {
    const listener = (e: { tenantId: string; workflow: string; status: string }) => {
      if (e.tenantId !== tenantId || e.workflow !== workflow) return;
      t.app.hooks.off('run:finished', listener);
      resolve(e.status);
    };
    t.app.hooks.on('run:finished', listener);
  });
}

async function post(t: TestApp, body: unknown, authorization?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(t.app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

describe('tenancy (development mode)', () => {
  let t: TestApp;
  let keyA: string;
  let keyB: string;
  let runOfA: string;
  beforeAll(async () => {
    t = await startTestApp();
    keyA = (await t.app.services.auth.createKey('tenant-a')).key;
    keyB = (await t.app.services.auth.createKey('tenant-b')).key;
    await t.ok(REGISTER, { input: parked('billing') }, keyA);
    runOfA = (await t.ok(START, { workflow: 'billing' }, keyA)).startRun.id;
  });
  afterAll(async () => {
    await t?.close();
  });

  // B by its key, and a request without a key (tenant "default" in development).
  const others: [string, () => string | undefined][] = [
    ['tenant B', () => keyB],
    ['an anonymous caller', () => undefined],
  ];

  it('A reads its own run', async () => {
    expect((await t.ok(RUN, { id: runOfA }, keyA)).run).toEqual({ id: runOfA, status: 'PENDING' });
    expect((await t.ok(RUNS, undefined, keyA)).runs.nodes.map((n: { id: string }) => n.id)).toContain(runOfA);
  });

  it.each(others)("%s cannot read A's run by id", async (_who, key) => {
    expect(await t.gql(RUN, { id: runOfA }, key())).toEqual({ data: { run: null } });
  });

  it.each(others)("%s does not see A's run in the runs list", async (_who, key) => {
    const { runs } = await t.ok(RUNS, undefined, key());
    expect(runs.nodes.map((n: { id: string }) => n.id)).not.toContain(runOfA);
    expect(runs.totalCount).toBe(0);
  });

  it.each(others)("%s cannot cancel A's run (NOT_FOUND), and the run is untouched", async (_who, key) => {
    const { data, errors } = await t.gql(CANCEL, { id: runOfA }, key());
    expect(data).toBeNull();
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', what: 'Run', id: runOfA });
    expect((await t.ok(RUN, { id: runOfA }, keyA)).run.status).toBe('PENDING');
  });

  it.each(others)("%s cannot subscribe to A's run with runUpdated (NOT_FOUND)", async (_who, key) => {
    const sub = subscribe(t.ws(key()), RUN_UPDATED, { id: runOfA });
    const end = await sub.ended();
    expect(sub.items).toEqual([]);
    expect(end.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', what: 'Run', id: runOfA });
  });

  it('A can subscribe to its own run with runUpdated', async () => {
    const sub = subscribe<{ runUpdated: { runId: string; seq: number; type: string; status: string } }>(t.ws(keyA), RUN_UPDATED, { id: runOfA });
    const items = await sub.until((xs) => xs.length >= 2);
    sub.dispose();
    expect(items.map((i) => i.runUpdated)).toEqual([
      { runId: runOfA, seq: 1, type: 'RUN_STATUS', status: 'PENDING' },
      { runId: runOfA, seq: 2, type: 'TASK_STATUS', status: 'QUEUED' },
    ]);
  });

  it("B does not receive A's events on runEvents (while A does)", async () => {
    type Ev = { runEvents: { runId: string; seq: number; type: string; status: string; workflow: string } };
    await t.ok(REGISTER, { input: { name: 'a-noop', steps: [{ key: 'only', type: 'noop' }] } }, keyA);
    await t.ok(REGISTER, { input: parked('a-parked') }, keyA);
    await t.ok(REGISTER, { input: parked('b-parked') }, keyB);
    const subA = subscribe<Ev>(t.ws(keyA), RUN_EVENTS);
    const subB = subscribe<Ev>(t.ws(keyB), RUN_EVENTS);
    const sees = (sub: Sub<Ev>, runId: string) => sub.until((xs) => xs.some((x) => x.runEvents.runId === runId));

    // Barriers: once each subscriber has seen a run of its own, its subscription is live. The
    // server does not acknowledge a subscription, so a barrier started before it was live is
    // missed: start another (bounded; on an idle machine the first one suffices).
    const live = async (sub: Sub<Ev>, workflow: string, key: string): Promise<string[]> => {
      const barriers: string[] = [];
      for (let i = 0; ; i++) {
        expect(i, `the runEvents subscription (${workflow}) never became active`).toBeLessThan(10);
        barriers.push((await t.ok(START, { workflow }, key)).startRun.id);
        try {
          await sub.until((xs) => xs.some((x) => barriers.includes(x.runEvents.runId)), 2_000);
          return barriers;
        } catch {
          // started before the subscription was live: try another
        }
      }
    };
    const [, barriersB] = await Promise.all([live(subA, 'a-parked', keyA), live(subB, 'b-parked', keyB)]);

    // A's run goes PENDING → RUNNING → SUCCEEDED with task events along the way.
    const finished = runFinished(t, 'tenant-a', 'a-noop');
    const runA = (await t.ok(START, { workflow: 'a-noop' }, keyA)).startRun.id;
    expect(await finished).toBe('SUCCEEDED');
    await subA.until((xs) => xs.some((x) => x.runEvents.runId === runA && x.runEvents.type === 'RUN_STATUS' && x.runEvents.status === 'SUCCEEDED'));

    // Events reach a subscriber in publish order: once B sees a run started after A's run
    // finished, anything of A's it would ever get has arrived.
    const markerB = (await t.ok(START, { workflow: 'b-parked' }, keyB)).startRun.id;
    await sees(subB, markerB);
    subA.dispose();
    subB.dispose();

    expect(subA.items.filter((x) => x.runEvents.runId === runA).map((x) => x.runEvents.status)).toEqual(
      expect.arrayContaining(['PENDING', 'RUNNING', 'SUCCEEDED']),
    );
    expect(subA.items.every((x) => x.runEvents.workflow.startsWith('a-'))).toBe(true);
    expect(subB.items.map((x) => x.runEvents.runId)).toContain(markerB);
    expect(subB.items.every((x) => barriersB.includes(x.runEvents.runId) || x.runEvents.runId === markerB)).toBe(true);
    expect(subB.items.every((x) => x.runEvents.workflow === 'b-parked')).toBe(true);
  });

  it("A's workflows are invisible to B, and B registers the same name as its own version 1", async () => {
    expect(await t.gql(WORKFLOW, { name: 'billing' }, keyB)).toEqual({ data: { workflow: null } });
    expect((await t.ok(WORKFLOWS, undefined, keyB)).workflows.nodes.map((n: { name: string }) => n.name)).not.toContain('billing');
    const start = await t.gql(START, { workflow: 'billing' }, keyB);
    expect(start.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', what: 'Workflow', id: 'billing' });

    const before = (await t.ok(WORKFLOW, { name: 'billing' }, keyA)).workflow;
    const { registerWorkflow: mine } = await t.ok(REGISTER, { input: { name: 'billing', steps: [{ key: 'charge', type: 'noop' }] } }, keyB);
    expect(mine).toMatchObject({ name: 'billing', version: 1, steps: [{ key: 'charge', type: 'noop', queue: null }] });
    expect(mine.id).not.toBe(before.id);
    // A's exact definition, registered by B, becomes B's next version: it never resolves to A's row.
    const { registerWorkflow: asA } = await t.ok(REGISTER, { input: parked('billing') }, keyB);
    expect(asA).toMatchObject({ name: 'billing', version: 2 });
    expect(asA.id).not.toBe(before.id);

    // A's workflow is unchanged.
    expect((await t.ok(WORKFLOW, { name: 'billing' }, keyA)).workflow).toEqual(before);
    expect(before).toMatchObject({ version: 1, steps: [{ key: 'remote', type: 'work', queue: 'nobody-listens' }] });
    // And B's run of its own "billing" is B's.
    const runOfB = (await t.ok(START, { workflow: 'billing' }, keyB)).startRun.id;
    expect(await t.gql(RUN, { id: runOfB }, keyA)).toEqual({ data: { run: null } });
  });
});

describe('authentication (production mode)', () => {
  let t: TestApp;
  let key: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'production' } });
    key = (await t.app.services.auth.createKey('prod-tenant')).key;
    await t.ok(REGISTER, { input: parked('prod-wf') }, key);
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each<[string, () => string | undefined]>([
    ['no Authorization header', () => undefined],
    ['an empty Authorization header', () => ''],
    ['"Bearer " and nothing else', () => 'Bearer '],
    ['a bogus key', () => 'Bearer mk_not-a-key-we-issued'],
    ['a key with a typo', () => `Bearer ${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`],
  ])('a request with %s is HTTP 401 UNAUTHENTICATED', async (_name, authorization) => {
    const { status, json } = await post(t, { query: WORKFLOWS }, authorization());
    expect(status).toBe(401);
    expect(json.data ?? null).toBeNull();
    expect(json.errors).toHaveLength(1);
    expect(json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(json.errors[0].message).toMatch(/API key/);
  });

  it.each<[string, () => string]>([
    ['as "Bearer <key>"', () => `Bearer ${key}`],
    ['as "bearer <key>"', () => `bearer ${key}`],
    ['bare', () => key],
  ])('a valid key %s works', async (_name, authorization) => {
    const { status, json } = await post(t, { query: WORKFLOWS }, authorization());
    expect(status).toBe(200);
    expect(json).toEqual({ data: { workflows: { nodes: [{ name: 'prod-wf', version: 1 }], totalCount: 1 } } });
  });

  it.each<[string, () => string | undefined, string]>([
    ['without a key', () => undefined, 'Forbidden: an API key is required; send { "authorization": "Bearer <key>" } as connection_init payload'],
    ['with a bogus key', () => 'mk_not-a-key-we-issued', 'Forbidden: the API key is not valid or was revoked'],
  ])('a graphql-ws connection %s is rejected, the close reason saying what to send', async (_name, apiKey, reason) => {
    const runId = (await t.ok(START, { workflow: 'prod-wf' }, key)).startRun.id;
    const sub = subscribe(t.ws(apiKey()), RUN_UPDATED, { id: runId });
    const end = await sub.ended();
    expect(sub.items).toEqual([]);
    expect(end.close).toEqual({ code: 4403, reason });
  });

  it('a graphql-ws connection with a key works', async () => {
    const runId = (await t.ok(START, { workflow: 'prod-wf' }, key)).startRun.id;
    const sub = subscribe<{ runUpdated: { runId: string; seq: number; status: string } }>(t.ws(key), RUN_UPDATED, { id: runId });
    const items = await sub.until((xs) => xs.length >= 1);
    sub.dispose();
    expect(items[0]!.runUpdated).toEqual({ runId, seq: 1, type: 'RUN_STATUS', status: 'PENDING' });
  });

  it('a revoked key stops working at once, over HTTP and WebSocket', async () => {
    const { key: doomed, row } = await t.app.services.auth.createKey('prod-tenant', 'doomed');
    // Used first, so that it sits in the auth cache.
    expect((await post(t, { query: WORKFLOWS }, `Bearer ${doomed}`)).status).toBe(200);
    const runId = (await t.ok(START, { workflow: 'prod-wf' }, doomed)).startRun.id;

    expect(await t.app.services.auth.revokeKey(row.id)).toBe(true);

    const { status, json } = await post(t, { query: WORKFLOWS }, `Bearer ${doomed}`);
    expect(status).toBe(401);
    expect(json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const sub = subscribe(t.ws(doomed), RUN_UPDATED, { id: runId });
    expect((await sub.ended()).close).toEqual({ code: 4403, reason: 'Forbidden: the API key is not valid or was revoked' });
    // Revoking one key leaves the tenant's other keys alone.
    expect((await post(t, { query: WORKFLOWS }, `Bearer ${key}`)).status).toBe(200);
    // Revoking twice reports that nothing changed.
    expect(await t.app.services.auth.revokeKey(row.id)).toBe(false);
  });
});
