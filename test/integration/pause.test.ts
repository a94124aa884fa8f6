import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { collect, startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * pauseRun / resumeRun through the API, on a manual clock: a sleep falling due while paused fires
 * on resume and not before, a queue worker claims nothing of a paused run, a running attempt
 * finishing while paused keeps its result (its dependents wait), cancel works on a paused run,
 * and the typed refusals.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const START = `mutation($wf: String!) { startRun(workflow: $wf) { id status } }`;
const PAUSE = `mutation($id: ID!) { pauseRun(id: $id) { id status pausedAt } }`;
const RESUME = `mutation($id: ID!) { resumeRun(id: $id) { id status pausedAt } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { id status } }`;
const CLAIM = `mutation($queue: String!) { claimTasks(queue: $queue, workerId: "w1", max: 10) { leaseToken task { id key } } }`;
const COMPLETE = `mutation($id: ID!, $token: String!, $output: JSON) { completeTask(taskId: $id, leaseToken: $token, output: $output) { id status } }`;
const RUN = `query($id: ID!) {
  run(id: $id) {
    id status pausedAt
    tasks { key status attempt finishedAt }
    events { seq type status taskKey }
  }
}`;

interface RunView {
  id: string;
  status: string;
  pausedAt: string | null;
  tasks: { key: string; status: string; attempt: number; finishedAt: string | null }[];
  events: { seq: number; type: string; status: string; taskKey: string | null }[];
}

describe('pause and resume', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date());
  const read = async (runId: string) => (await t.ok<{ run: RunView }>(RUN, { id: runId })).run;
  const task = (run: RunView, key: string) => run.tasks.find((x) => x.key === key)!;
  const start = async (wf: string) => (await t.ok<{ startRun: { id: string } }>(START, { wf })).startRun.id;

  beforeAll(async () => {
    t = await startTestApp({ clock });
    await t.ok(REGISTER, {
      input: {
        name: 'nap',
        steps: [
          { key: 'nap', type: 'sleep', input: { ms: 1000 } },
          { key: 'after', type: 'noop', dependsOn: ['nap'] },
        ],
      },
    });
    await t.ok(REGISTER, {
      input: {
        name: 'backoff',
        steps: [{ key: 'gate', type: 'signal', input: { name: 'go', timeoutMs: 100 }, retry: { maxAttempts: 2, initialDelayMs: 1000 } }],
      },
    });
    await t.ok(REGISTER, { input: { name: 'bounded', timeoutMs: 1000, steps: [{ key: 'work', type: 'job', queue: 'pause-bounded' }] } });
    await t.ok(REGISTER, {
      input: {
        name: 'remote',
        steps: [
          { key: 'work', type: 'job', queue: 'pause-q' },
          { key: 'after', type: 'noop', dependsOn: ['work'] },
        ],
      },
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('holds a sleep that falls due while paused and fires it on resume', async () => {
    const parked = new Promise<void>((resolve) => t.app.hooks.once('timer:parked', () => resolve()));
    const runId = await start('nap');
    const live = collect<{ runUpdated: { type: string; status: string } }>(
      t.ws(),
      `subscription($id: ID!) { runUpdated(id: $id, afterSeq: 0) { type status } }`,
      { id: runId },
      (items) => items.some((x) => x.runUpdated.type === 'RUN_STATUS' && x.runUpdated.status === 'SUCCEEDED'),
    );
    await live.ready;
    await parked;
    const paused = (await t.ok<{ pauseRun: { status: string; pausedAt: string | null } }>(PAUSE, { id: runId })).pauseRun;
    expect(paused.status).toBe('PAUSED');
    expect(new Date(paused.pausedAt!).getTime()).toBe(clock.now().getTime());
    // Pausing twice is one pause.
    expect((await t.ok(PAUSE, { id: runId })).pauseRun).toEqual(paused);
    expect(await t.scrape()).toMatch(/^maestro_runs_paused [1-9]/m);

    await clock.advance(5000);
    await t.app.scheduler.settleTimers();
    const held = await read(runId);
    expect(held.status).toBe('PAUSED');
    expect(task(held, 'nap').status).toBe('RUNNING');
    expect(task(held, 'after').status).toBe('PENDING');

    const resumedAt = clock.now().getTime();
    const resumed = (await t.ok<{ resumeRun: { status: string; pausedAt: string | null } }>(RESUME, { id: runId })).resumeRun;
    expect(resumed).toMatchObject({ status: 'RUNNING', pausedAt: null });
    const done = await waitForRun(t, runId);
    expect(done.status).toBe('SUCCEEDED');
    const run = await read(runId);
    expect(new Date(task(run, 'nap').finishedAt!).getTime()).toBeGreaterThanOrEqual(resumedAt);
    expect(run.events.filter((e) => e.type === 'RUN_STATUS').map((e) => e.status)).toEqual(['PENDING', 'RUNNING', 'PAUSED', 'RUNNING', 'SUCCEEDED']);
    // The subscription saw the same run statuses, live.
    const seen = (await live.done).filter((x) => x.runUpdated.type === 'RUN_STATUS').map((x) => x.runUpdated.status);
    expect(seen).toEqual(['PENDING', 'RUNNING', 'PAUSED', 'RUNNING', 'SUCCEEDED']);
    // Resuming a run that is not paused returns it as it is; a finished one is a CONFLICT.
    const again = await t.gql(RESUME, { id: runId });
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', status: 'SUCCEEDED' });
    const late = await t.gql(PAUSE, { id: runId });
    expect(late.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', status: 'SUCCEEDED' });
    expect(late.errors?.[0]?.message).toMatch(/is SUCCEEDED/);
  });

  it('lets a queue worker claim nothing of a paused run; a running attempt finishes and its dependents wait for resume', async () => {
    // Paused before anything was claimed: the worker sees nothing, and resume goes back to PENDING.
    const first = await start('remote');
    expect((await t.ok(PAUSE, { id: first })).pauseRun.status).toBe('PAUSED');
    expect((await t.ok(CLAIM, { queue: 'pause-q' })).claimTasks).toEqual([]);
    expect((await t.ok(RESUME, { id: first })).resumeRun.status).toBe('PENDING');
    const [lease] = (await t.ok(CLAIM, { queue: 'pause-q' })).claimTasks;
    expect(lease.task.key).toBe('work');

    // Paused while the attempt runs: its result is kept, the next step waits.
    expect((await t.ok(PAUSE, { id: first })).pauseRun.status).toBe('PAUSED');
    expect((await t.ok(COMPLETE, { id: lease.task.id, token: lease.leaseToken, output: { ok: true } })).completeTask.status).toBe('SUCCEEDED');
    const held = await read(first);
    expect(held.status).toBe('PAUSED');
    expect(task(held, 'work').status).toBe('SUCCEEDED');
    expect(task(held, 'after').status).toBe('PENDING');
    await t.ok(RESUME, { id: first });
    expect((await waitForRun(t, first)).status).toBe('SUCCEEDED');
  });

  it('holds a built-in retry whose backoff ends while paused, and claims it on resume', async () => {
    const parkedTwice = new Promise<void>((resolve) => {
      let n = 0;
      const listener = () => {
        if (++n < 2) return;
        t.app.hooks.off('signal:parked', listener);
        resolve();
      };
      t.app.hooks.on('signal:parked', listener);
    });
    const firstPark = new Promise<void>((resolve) => t.app.hooks.once('signal:parked', () => resolve()));
    const runId = await start('backoff');
    await firstPark;
    await clock.advance(100);
    await t.app.scheduler.settleTimers();
    expect(task(await read(runId), 'gate')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    await t.ok(PAUSE, { id: runId });
    // The backoff (1 s ±20 %) ends while paused: the dispatcher claims nothing.
    await clock.advance(2000);
    await t.app.scheduler.settleTimers();
    expect(task(await read(runId), 'gate')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    await t.ok(RESUME, { id: runId });
    await parkedTwice;
    expect(task(await read(runId), 'gate')).toMatchObject({ status: 'RUNNING', attempt: 2 });
    await t.ok(CANCEL, { id: runId });
  });

  it("keeps counting the run's own timeout while it is paused", async () => {
    const runId = await start('bounded');
    await t.ok(PAUSE, { id: runId });
    await clock.advance(1000);
    await t.app.scheduler.settleTimers();
    const run = await read(runId);
    expect(run.status).toBe('FAILED');
    expect(run.tasks.map((x) => x.status)).toEqual(['CANCELLED']);
    expect(run.events.filter((e) => e.type === 'RUN_STATUS').map((e) => e.status)).toEqual(['PENDING', 'PAUSED', 'FAILED']);
  });

  it('cancels a paused run', async () => {
    const runId = await start('remote');
    await t.ok(PAUSE, { id: runId });
    expect((await t.ok(CANCEL, { id: runId })).cancelRun.status).toBe('CANCELLED');
    const run = await read(runId);
    expect(run.tasks.map((x) => x.status)).toEqual(['CANCELLED', 'CANCELLED']);
    expect((await t.ok(CLAIM, { queue: 'pause-q' })).claimTasks).toEqual([]);
    const missing = await t.gql(PAUSE, { id: '00000000-0000-4000-8000-000000000000' });
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
