import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * A `sleep` step parks its attempt on a timer stored in Postgres, not on a `setTimeout` of the
 * process: a conductor restarted mid-sleep must wake the run on time.
 */
const SLEEP_MS = 1500;
/** Once the new app is up (or the timer is due, whichever is later), it must fire within this. */
const FIRE_BOUND_MS = 1500;

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

  beforeAll(async () => {
    t = await startTestApp({ persistent: true });
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

  it('wakes the sleeping run on the restarted app, not before the timer is due', async () => {
    // Listen before starting: the claim of the sleep task is the moment we restart at. Every
    // claimed id is remembered, so a claim that happens before we know the task's id still counts.
    const oldApp = t.app;
    const claimed = new Set<string>();
    let wanted: { id: string; resolve: () => void } | null = null;
    const onClaimed = (e: { taskId: string }) => {
      claimed.add(e.taskId);
      if (wanted && e.taskId === wanted.id) wanted.resolve();
    };
    oldApp.hooks.on('task:claimed', onClaimed);
    const { startRun } = await t.ok<{ startRun: { id: string } }>(START, { wf: 'nap' });
    const runId = startRun.id;
    const napTaskId = (await t.ok<{ run: RunView }>(RUN, { id: runId })).run.tasks.find((x) => x.key === 'nap')!.id;
    if (!claimed.has(napTaskId)) await new Promise<void>((resolve) => (wanted = { id: napTaskId, resolve }));
    oldApp.hooks.off('task:claimed', onClaimed);

    const sleeping = (await t.ok<{ run: RunView }>(RUN, { id: runId })).run;
    const nap = sleeping.tasks.find((x) => x.key === 'nap')!;
    expect(sleeping.status).toBe('RUNNING');
    expect(nap).toMatchObject({ status: 'RUNNING', attempt: 1 });
    // The executor computes the due time from its clock after the claim: due >= startedAt + SLEEP_MS.
    const dueAtLeast = ms(nap.startedAt) + SLEEP_MS;

    // stop() drains the in-flight attempt (it parks on its timer at once), then a new app
    // opens the same database.
    await t.restart();
    const restartedAt = Date.now();
    expect(t.app).not.toBe(oldApp);

    const finishedOnNewApp = new Promise<string>((resolve) => {
      const listener = (e: { runId: string; status: string }) => {
        if (e.runId === runId) {
          t.app.hooks.off('run:finished', listener);
          resolve(e.status);
        }
      };
      t.app.hooks.on('run:finished', listener);
    });
    const afterRestart = (await t.ok<{ run: RunView }>(RUN, { id: runId })).run;
    // Nothing finished the run while the conductor was down or restarting (unless the restart
    // itself outlasted the sleep, in which case the new app fires it at once).
    if (restartedAt < dueAtLeast) {
      expect(afterRestart.status).toBe('RUNNING');
      expect(afterRestart.tasks.find((x) => x.key === 'nap')!.status).toBe('RUNNING');
      expect(afterRestart.tasks.find((x) => x.key === 'after')!.status).toBe('PENDING');
    }

    await expect(finishedOnNewApp).resolves.toBe('SUCCEEDED');
    const run = (await waitForRun(t, runId)) as { status: string };
    expect(run.status).toBe('SUCCEEDED');

    const done = (await t.ok<{ run: RunView }>(RUN, { id: runId })).run;
    expect(done.status).toBe('SUCCEEDED');
    expect(done.output).toEqual({ after: { slept: SLEEP_MS } });
    const napDone = done.tasks.find((x) => x.key === 'nap')!;
    // One attempt: the timer survived the restart; the task was not re-run from scratch.
    expect(napDone).toMatchObject({ status: 'SUCCEEDED', attempt: 1 });
    expect(ms(napDone.finishedAt)).toBeGreaterThanOrEqual(dueAtLeast);
    expect(ms(done.finishedAt)).toBeGreaterThanOrEqual(dueAtLeast);
    expect(ms(napDone.finishedAt)).toBeLessThan(Math.max(dueAtLeast, restartedAt) + FIRE_BOUND_MS);
    // The history is whole across the restart: consecutive seqs, one RUNNING for the sleep.
    expect(done.events.map((e) => e.seq)).toEqual(done.events.map((_, i) => i + 1));
    expect(done.events.filter((e) => e.taskKey === 'nap').map((e) => `${e.status}@${e.attempt}`)).toEqual([
      'QUEUED@0',
      'RUNNING@1',
      'SUCCEEDED@1',
    ]);
  });
});
