import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { REAL_POSTGRES, REAL_REDIS } from '../helpers/db';
import { freePort } from '../helpers/net';

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;

describe.runIf(REAL_POSTGRES && REAL_REDIS)('two replicas on one Postgres and one Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({ replicaOf: a });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('delivers events of runs started on one replica to subscribers of the other', async () => {
    await a.ok(REGISTER, {
      input: {
        name: 'cross',
        steps: [
          { key: 'one', type: 'noop' },
          { key: 'two', type: 'sleep', dependsOn: ['one'], input: { ms: 20 } },
        ],
      },
    });
    const tenantFeed = collect<{ runEvents: { runId: string; type: string; status: string } }>(
      b.ws(),
      `subscription { runEvents(workflow: "cross") { runId type status } }`,
      {},
      (items) => items.filter((i) => i.runEvents.type === 'RUN_STATUS' && i.runEvents.status === 'SUCCEEDED').length === 5,
    );
    await tenantFeed.ready;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await a.ok(`mutation { startRun(workflow: "cross") { id } }`)).startRun.id);
    const perRun = await Promise.all(
      ids.map(
        (id) =>
          collect<{ runUpdated: { seq: number; status: string; type: string } }>(
            b.ws(),
            `subscription($id: ID!) { runUpdated(id: $id, afterSeq: 0) { seq type status } }`,
            { id },
            (items) => items.some((x) => x.runUpdated.type === 'RUN_STATUS' && x.runUpdated.status === 'SUCCEEDED'),
          ).done,
      ),
    );
    for (const items of perRun) expect(items.map((x) => x.runUpdated.seq)).toEqual(items.map((_, i) => i + 1));
    const finished = (await tenantFeed.done).filter((i) => i.runEvents.type === 'RUN_STATUS' && i.runEvents.status === 'SUCCEEDED');
    expect(new Set(finished.map((f) => f.runEvents.runId))).toEqual(new Set(ids));
  });

  it('shares the built-in work: both replicas execute tasks, each task once', async () => {
    const claimedBy = new Map<string, string[]>();
    for (const [name, t] of [
      ['a', a],
      ['b', b],
    ] as const) {
      t.app.hooks.on('task:claimed', (e) => claimedBy.set(e.taskId, [...(claimedBy.get(e.taskId) ?? []), name]));
    }
    await a.ok(REGISTER, {
      input: {
        name: 'wide',
        steps: [{ key: 'root', type: 'noop' }, ...Array.from({ length: 30 }, (_, i) => ({ key: `s${i}`, type: 'noop', dependsOn: ['root'] }))],
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await (i % 2 ? a : b).ok(`mutation { startRun(workflow: "wide") { id } }`)).startRun.id);
    for (const id of ids) expect((await waitForRun(a, id)).status).toBe('SUCCEEDED');
    expect(claimedBy.size).toBe(20 * 31);
    for (const holders of claimedBy.values()) expect(holders).toHaveLength(1);
    const byReplica = [...claimedBy.values()].flat().reduce<Record<string, number>>((acc, r) => ({ ...acc, [r]: (acc[r] ?? 0) + 1 }), {});
    console.log(`[replicas] built-in tasks executed per replica: ${JSON.stringify(byReplica)}`);
    expect(Object.keys(byReplica).sort()).toEqual(['a', 'b']);
  });
});

describe.runIf(REAL_POSTGRES)('readiness names the failing dependency', () => {
  let redis: ChildProcess | null = null;
  let port = 0;
  let t: TestApp;
  const startRedis = async () => {
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis-server did not start');
  };

  beforeAll(async () => {
    port = await freePort();
    await startRedis();
    t = await startTestApp({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
  });
  afterAll(async () => {
    await t?.close();
    redis?.kill('SIGKILL');
  });

  const readyz = async () => {
    const res = await fetch(new URL('/readyz', t.app.url));
    return { status: res.status, body: (await res.json()) as { failing?: string[] } };
  };

  it('turns 503 naming redis while Redis is down, and 200 again once it is back', async () => {
    expect((await readyz()).status).toBe(200);
    redis!.kill('SIGKILL');
    await once(redis!, 'exit');
    const down = await readyz();
    expect(down.status).toBe(503);
    expect(down.body.failing).toEqual(['redis']);
    await startRedis();
    let back = await readyz();
    for (let i = 0; i < 100 && back.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await readyz();
    }
    expect(back.status).toBe(200);
  });
});
