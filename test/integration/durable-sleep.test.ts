import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * A `sleep` step parks its attempt on a timer stored in Postgres, not on a timer of the process:
 * a conductor restarted mid-sleep must wake the run on time. The conductor runs on a manual
 * clock, kept across the restart (a new app on the same database): the sleep comes due when the
 * test moves the clock, to the millisecond, and nothing waits on the wall clock.
 */
const SLEEP_MS = 1500;

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const START = `mutation($wf: String!) { startRun(workflow: $wf) { id status } }`;
const RUN = `query($id: ID!) {
  run(id: $id) {
    id status output error startedAt finishedAt
    tasks { id key status attempt startedAt finishedAt }
    events { seq type status taskKey attempt createdAt }
  }
}`;

interface RunView {
  id: string;
  status: string;
  output: unknown;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  tasks: { id: string; key: string; status: string; attempt: number; startedAt: string | null; finishedAt: string | null }[];
  events: { seq: number; type: string; status: string; taskKey: string | null; attempt: number | null; createdAt: string }[];
}

const ms = (iso: string | null): number => {
  if (iso === null) throw new Error('expected a timestamp, got null');
  return new Date(iso).getTime();
};

describe('durable sleep across a restart', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date());
  const read = async (runId: string) => (await t.ok<{ run: RunView }>(RUN, { id: runId })).run;
  const step = (run: RunView, key: string) => run.tasks.find((x) => x.key === key)!;

  beforeAll(async () => {
    t = await startTestApp({ persistent: true, clock });
    await t.ok(REGISTER, {
      input: {
        name: 'nap',
        steps: [
          { key: 'before', type: 'noop', input: { n: 1 } },
          { key: 'nap', type: 'sleep', dependsOn: ['before'], input: { ms: SLEEP_MS } },
          { key: 'after', type: 'noop', dependsOn: ['nap'], input: { slept: '{{ steps.nap.output.ms }}' } },
        ],
      },
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  /**
   * Starts a run and resolves once its sleep step has been claimed: the moment to restart at.
   * Every claimed id is remembered, so a claim before we know the task's id still counts.
   */
  const startUntilNapClaimed = async (): Promise<{ runId: string; dueAt: number }> => {
    const app = t.app;
    const claimed = new Set<string>();
    let wanted: { id: string; resolve: () => void } | null = null;
    const onClaimed = (e: { taskId: string }) => {
      claimed.add(e.taskId);
      if (wanted && e.taskId === wanted.id) wanted.resolve();
    };
    app.hooks.on('task:claimed', onClaimed);
    const runId = (await t.ok<{ startRun: { id: string } }>(START, { wf: 'nap' })).startRun.id;
    const napTaskId = step(await read(runId), 'nap').id;
    if (!claimed.has(napTaskId)) await new Promise<void>((resolve) => (wanted = { id: napTaskId, resolve }));
    app.hooks.off('task:claimed', onClaimed);
    const nap = step(await read(runId), 'nap');
    expect(nap).toMatchObject({ status: 'RUNNING', attempt: 1 });
    // The executor reads the same clock as the claim: due exactly SLEEP_MS after it started.
    expect(ms(nap.startedAt)).toBe(clock.now().getTime());
    return { runId, dueAt: ms(nap.startedAt) + SLEEP_MS };
  };

  /** One attempt, a whole history across the restart: consecutive seqs, one RUNNING for the sleep. */
  const expectWholeHistory = (done: RunView) => {
    expect(done.output).toEqual({ after: { slept: SLEEP_MS } });
    expect(step(done, 'nap')).toMatchObject({ status: 'SUCCEEDED', attempt: 1 });
    expect(done.events.map((e) => e.seq)).toEqual(done.events.map((_, i) => i + 1));
    expect(done.events.filter((e) => e.taskKey === 'nap').map((e) => `${e.status}@${e.attempt}`)).toEqual(['QUEUED@0', 'RUNNING@1', 'SUCCEEDED@1']);
  };

  it('wakes the sleeping run on the restarted app when the timer is due, not a millisecond before', async () => {
    const oldApp = t.app;
    const { runId, dueAt } = await startUntilNapClaimed();
    // stop() drains the in-flight attempt (it parks on its timer at once), then a new app opens
    // the same database.
    await t.restart();
    expect(t.app).not.toBe(oldApp);

    await clock.advance(dueAt - 1 - clock.now().getTime());
    const waiting = await read(runId);
    expect(waiting.status).toBe('RUNNING');
    expect(step(waiting, 'nap').status).toBe('RUNNING');
    expect(step(waiting, 'after').status).toBe('PENDING');

    const finished = new Promise<string>((resolve) => {
      const listener = (e: { runId: string; status: string }) => {
        if (e.runId !== runId) return;
        t.app.hooks.off('run:finished', listener);
        resolve(e.status);
      };
      t.app.hooks.on('run:finished', listener);
    });
    await clock.advance(1);
    await expect(finished).resolves.toBe('SUCCEEDED');
    const done = await read(runId);
    expect(done.status).toBe('SUCCEEDED');
    expect(ms(step(done, 'nap').finishedAt)).toBe(dueAt);
    expect(ms(done.finishedAt)).toBe(dueAt);
    expectWholeHistory(done);
  });

  it('fires a sleep that came due while the conductor was down as soon as the new app starts', async () => {
    const { runId, dueAt } = await startUntilNapClaimed();
    // Down for the whole sleep and 5 s more: no process holds a timer for it meanwhile.
    let restartedAt = 0;
    await t.restart(async () => {
      await clock.advance(SLEEP_MS + 5_000);
      restartedAt = clock.now().getTime();
    });
    const run = (await waitForRun(t, runId)) as { status: string };
    expect(run.status).toBe('SUCCEEDED');
    const done = await read(runId);
    expect(ms(step(done, 'nap').finishedAt)).toBe(restartedAt);
    expect(restartedAt).toBeGreaterThan(dueAt);
    expectWholeHistory(done);
  });
});
