import type { Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * Live run events over graphql-ws: `runUpdated` replays the stored history after `afterSeq` and
 * continues live with nothing missed and nothing twice, wherever in the run the subscriber
 * attaches; `runEvents` is filtered by workflow; unknown runs are NOT_FOUND.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const START = `mutation($wf: String!) { startRun(workflow: $wf) { id } }`;
const EVENTS = `query($id: ID!) {
  run(id: $id) { id status tasks { id key } events { runId seq type status taskKey workflow attempt } }
}`;
const RUN_UPDATED = `subscription($id: ID!, $afterSeq: Int) {
  runUpdated(id: $id, afterSeq: $afterSeq) { runId seq type status taskKey workflow attempt }
}`;
const RUN_EVENTS = `subscription($workflow: String) { runEvents(workflow: $workflow) { runId seq type status taskKey workflow attempt } }`;

interface Ev {
  runId: string;
  seq: number;
  type: 'RUN_STATUS' | 'TASK_STATUS';
  status: string;
  taskKey: string | null;
  workflow: string;
  attempt: number | null;
}

const isRunSucceeded = (e: Ev) => e.type === 'RUN_STATUS' && e.status === 'SUCCEEDED';

/** The seqs `from`, `from + 1`, …, `to`. */
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** mulberry32: a seeded PRNG, so a failing interleaving can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type GqlError = { message: string; extensions?: Record<string, unknown> };

interface Feed<T> {
  /** Every item so far, in arrival order. */
  readonly items: T[];
  /** Resolves with the items once `pred` holds for them (checked now and on every new item). */
  waitFor(pred: (items: T[]) => boolean, timeoutMs?: number): Promise<T[]>;
  /** Resolves with the GraphQL errors the subscription ended with (rejects after `timeoutMs`). */
  failed(timeoutMs?: number): Promise<readonly GqlError[]>;
  stop(): void;
}

/** A subscription whose items can be awaited by condition, several times, without sleeping. */
function feed<T>(client: WsClient, query: string, variables: Record<string, unknown>, field: string): Feed<T> {
  const items: T[] = [];
  const waiters = new Set<() => void>();
  let ended: Error | null = null;
  let fail!: (errors: readonly GqlError[]) => void;
  const failure = new Promise<readonly GqlError[]>((resolve) => (fail = resolve));
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const stop = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next: (value) => {
        if (value.errors?.length) {
          ended = new Error(`subscription errored: ${JSON.stringify(value.errors)}`);
          fail(value.errors as readonly GqlError[]);
        } else if (value.data) {
          items.push(value.data[field]);
        }
        notify();
      },
      error: (e) => {
        ended = new Error(`subscription errored: ${JSON.stringify(e)}`);
        fail(Array.isArray(e) ? (e as GqlError[]) : [{ message: String((e as Error)?.message ?? e) }]);
        notify();
      },
      complete: () => {
        ended ??= new Error('subscription completed');
        notify();
      },
    },
  );
  return {
    items,
    stop,
    failed(timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no error within ${timeoutMs} ms; items: ${JSON.stringify(items).slice(0, 2000)}`)), timeoutMs);
      });
      return Promise.race([failure, deadline]).finally(() => clearTimeout(timer));
    },
    waitFor(pred, timeoutMs = 15_000) {
      return new Promise<T[]>((resolve, reject) => {
        const check = () => {
          if (pred(items)) {
            done();
            resolve(items);
          } else if (ended) {
            done();
            reject(new Error(`${ended.message} before the condition held; items: ${JSON.stringify(items).slice(0, 2000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`condition not met within ${timeoutMs} ms; items: ${JSON.stringify(items).slice(0, 2000)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * Counts the engine's hook events per run from now on (claims and finishes of its tasks), so a
 * test can act "after the k-th thing happened in run r", also for things that happened before
 * the test learned r's id.
 */
function progress(t: TestApp) {
  const counts = new Map<string, number>();
  const finished = new Map<string, Set<string>>();
  const waiters = new Set<() => void>();
  const bump = (runId: string) => {
    counts.set(runId, (counts.get(runId) ?? 0) + 1);
    for (const w of [...waiters]) w();
  };
  const onClaimed = (e: { runId: string }) => bump(e.runId);
  const onFinished = (e: { runId: string; taskId: string }) => {
    finished.set(e.runId, (finished.get(e.runId) ?? new Set()).add(e.taskId));
    bump(e.runId);
  };
  const app = t.app;
  app.hooks.on('task:claimed', onClaimed);
  app.hooks.on('task:finished', onFinished);
  const until = (pred: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (pred()) {
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
    });
  return {
    /** Resolves once `n` claim/finish hooks fired for the run. */
    atLeast: (runId: string, n: number) => until(() => (counts.get(runId) ?? 0) >= n),
    /** Resolves once the task finished. */
    taskFinished: (runId: string, taskId: string) => until(() => finished.get(runId)?.has(taskId) ?? false),
    off: () => {
      app.hooks.off('task:claimed', onClaimed);
      app.hooks.off('task:finished', onFinished);
    },
  };
}

describe('run event subscriptions', () => {
  let t: TestApp;

  const start = async (wf: string): Promise<string> => (await t.ok<{ startRun: { id: string } }>(START, { wf })).startRun.id;
  const stored = async (id: string): Promise<{ status: string; tasks: { id: string; key: string }[]; events: Ev[] }> =>
    (await t.ok<{ run: { status: string; tasks: { id: string; key: string }[]; events: Ev[] } }>(EVENTS, { id })).run;

  beforeAll(async () => {
    t = await startTestApp();
    const register = (name: string, steps: unknown[]) => t.ok(REGISTER, { input: { name, steps } });
    await register('chain', [
      { key: 'a', type: 'noop', input: { n: 1 } },
      // Long enough that subscribers attached after `a` finished see most of the run live.
      { key: 'b', type: 'sleep', dependsOn: ['a'], input: { ms: 600 } },
      { key: 'c', type: 'noop', dependsOn: ['b'], input: {} },
    ]);
    await register('stress', [
      { key: 'a', type: 'noop', input: {} },
      { key: 'b', type: 'sleep', dependsOn: ['a'], input: { ms: 30 } },
      { key: 'c', type: 'noop', dependsOn: ['a'], input: {} },
      { key: 'd', type: 'noop', dependsOn: ['b', 'c'], input: {} },
    ]);
    await register('feed-x', [{ key: 'x1', type: 'noop', input: {} }]);
    await register('feed-y', [{ key: 'y1', type: 'noop', input: {} }]);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('replays history and continues live without gaps or duplicates when attaching mid-run', async () => {
    const seen = progress(t);
    try {
      const runId = await start('chain');
      const before = await stored(runId);
      expect(before.events[0]).toMatchObject({ seq: 1, type: 'RUN_STATUS', status: 'PENDING' });
      // Mid-way: the first task finished, the sleep has (at most) just started.
      await seen.taskFinished(runId, before.tasks.find((x) => x.key === 'a')!.id);

      let finishedAt: number | null = null;
      const onFinished = (e: { runId: string }) => {
        if (e.runId === runId) finishedAt = performance.now();
      };
      t.app.hooks.on('run:finished', onFinished);
      try {
        const subs = [0, 2].map((afterSeq) => ({ afterSeq, feed: feed<Ev>(t.ws(), RUN_UPDATED, { id: runId, afterSeq }, 'runUpdated') }));
        // Attached: each has replayed what was stored when we subscribed (the history after `a`).
        const storedAtAttach = (await stored(runId)).events.at(-1)!.seq;
        await Promise.all(subs.map((s) => s.feed.waitFor((items) => items.some((e) => e.seq >= storedAtAttach))));
        const caughtUpAt = performance.now();
        const results = await Promise.all(subs.map((s) => s.feed.waitFor((items) => items.some(isRunSucceeded))));
        for (const s of subs) s.feed.stop();

        // The seam was crossed: the run finished after both subscribers were attached, so part of
        // what they got came live.
        expect(finishedAt, 'the run finished before the subscribers attached; lengthen the sleep').not.toBeNull();
        expect(finishedAt!).toBeGreaterThan(caughtUpAt);

        const history = (await stored(runId)).events;
        const last = history.at(-1)!;
        expect(last).toMatchObject({ type: 'RUN_STATUS', status: 'SUCCEEDED' });
        subs.forEach((s, i) => {
          const got = results[i];
          expect(got.map((e) => e.seq)).toEqual(range(s.afterSeq + 1, last.seq));
          expect(got).toEqual(history.filter((e) => e.seq > s.afterSeq));
        });
      } finally {
        t.app.hooks.off('run:finished', onFinished);
      }
    } finally {
      seen.off();
    }
  });

  it('20 concurrent runs, each with a subscriber attaching at a random moment, all see gap-free sequences', async () => {
    const seed = Number(process.env['TEST_SEED'] ?? Date.now() % 2 ** 31);
    const random = prng(seed);
    // Per run: 4 claims and 4 finishes. Attach after 0..8 of them (8: the run is over), from a
    // random afterSeq.
    const plans = Array.from({ length: 20 }, () => ({ attachAfter: Math.floor(random() * 9), afterSeq: Math.floor(random() * 3) }));
    const seen = progress(t);
    try {
      const outcomes = await Promise.all(
        plans.map(async (plan) => {
          const runId = await start('stress');
          await seen.atLeast(runId, plan.attachAfter);
          const sub = feed<Ev>(t.ws(), RUN_UPDATED, { id: runId, afterSeq: plan.afterSeq }, 'runUpdated');
          const items = await sub.waitFor((got) => got.some(isRunSucceeded));
          sub.stop();
          return { runId, plan, items: [...items] };
        }),
      );
      for (const { runId, plan, items } of outcomes) {
        const context = `seed ${seed}, run ${runId}, plan ${JSON.stringify(plan)}`;
        const history = await stored(runId);
        expect(history.status, context).toBe('SUCCEEDED');
        const last = history.events.at(-1)!;
        expect(
          items.map((e) => e.seq),
          context,
        ).toEqual(range(plan.afterSeq + 1, last.seq));
        expect(items.at(-1), context).toMatchObject({ type: 'RUN_STATUS', status: 'SUCCEEDED' });
        expect(items, context).toEqual(history.events.filter((e) => e.seq > plan.afterSeq));
      }
    } finally {
      seen.off();
    }
  });

  it('runEvents(workflow) delivers only the events of that workflow’s runs', async () => {
    const onlyX = feed<Ev>(t.ws(), RUN_EVENTS, { workflow: 'feed-x' }, 'runEvents');
    const all = feed<Ev>(t.ws(), RUN_EVENTS, {}, 'runEvents');
    try {
      // The server does not acknowledge a subscription: run x until both feeds deliver its events,
      // then they are listening. (Bounded: the first run almost always suffices.)
      for (let i = 0; ; i++) {
        expect(i, 'the runEvents subscriptions never became active').toBeLessThan(20);
        const probe = await start('feed-x');
        await waitForRun(t, probe);
        if (onlyX.items.some((e) => e.runId === probe) && all.items.some((e) => e.runId === probe)) break;
      }

      const [x, y] = await Promise.all([start('feed-x'), start('feed-y')]);
      await Promise.all([waitForRun(t, x), waitForRun(t, y)]);
      const lastOf = async (id: string) => (await stored(id)).events.at(-1)!.seq;
      const [xLast, yLast] = await Promise.all([lastOf(x), lastOf(y)]);
      // The unfiltered feed got both runs to their end; events are published in commit order,
      // so by then the filtered feed has had every chance to (wrongly) get y's.
      await all.waitFor((items) => items.some((e) => e.runId === x && e.seq === xLast) && items.some((e) => e.runId === y && e.seq === yLast));
      await onlyX.waitFor((items) => items.some((e) => e.runId === x && e.seq === xLast));

      expect(all.items.filter((e) => e.runId === y).map((e) => e.seq)).toEqual(range(1, yLast));
      expect(onlyX.items.every((e) => e.workflow === 'feed-x')).toBe(true);
      expect(onlyX.items.filter((e) => e.runId === y)).toEqual([]);
      expect(onlyX.items.filter((e) => e.runId === x)).toEqual((await stored(x)).events);
    } finally {
      onlyX.stop();
      all.stop();
    }
  });

  it.each([
    ['a well-formed id of no run', '00000000-0000-4000-8000-000000000000'],
    ['an id that is not a UUID', 'not-a-run'],
  ])('subscribing to %s fails with NOT_FOUND', async (_case, id) => {
    const sub = feed<Ev>(t.ws(), RUN_UPDATED, { id, afterSeq: 0 }, 'runUpdated');
    const errors = await sub.failed();
    sub.stop();
    expect(errors).toHaveLength(1);
    expect(errors[0].extensions?.['code']).toBe('NOT_FOUND');
    expect(errors[0].message).toContain(id);
    expect(sub.items).toEqual([]);
  });
});
