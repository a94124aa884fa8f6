import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * `signal` steps through the API, on a manual clock: a signal sent after the step parked, one
 * sent before it is reached (kept, FIFO per name), a timeout (the retry policy waits again), a
 * restart while waiting, and the typed refusals.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const START = `mutation($wf: String!) { startRun(workflow: $wf) { id status } }`;
const SIGNAL = `mutation($id: ID!, $name: String!, $payload: JSON) { signalRun(id: $id, name: $name, payload: $payload) { id status } }`;
const RUN = `query($id: ID!) {
  run(id: $id) {
    id status output error
    tasks { key status attempt output error }
    events { seq type status taskKey attempt }
  }
}`;

interface RunView {
  id: string;
  status: string;
  output: unknown;
  error: string | null;
  tasks: { key: string; status: string; attempt: number; output: unknown; error: string | null }[];
  events: { seq: number; type: string; status: string; taskKey: string | null; attempt: number | null }[];
}

describe('signal steps', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date());
  const read = async (runId: string) => (await t.ok<{ run: RunView }>(RUN, { id: runId })).run;
  const task = (run: RunView, key: string) => run.tasks.find((x) => x.key === key)!;

  /** Resolves when `count` signal steps of the run have parked (counted from now). */
  const parked = (runId: string, count = 1) =>
    new Promise<void>((resolve) => {
      let seen = 0;
      const listener = (e: { runId: string }) => {
        if (e.runId !== runId || ++seen < count) return;
        t.app.hooks.off('signal:parked', listener);
        resolve();
      };
      t.app.hooks.on('signal:parked', listener);
    });

  /** Starts a run and resolves once its first signal step parked. */
  const startParked = async (wf: string): Promise<string> => {
    let runId = '';
    const ids: string[] = [];
    let wanted: (() => void) | null = null;
    const listener = (e: { runId: string }) => {
      ids.push(e.runId);
      if (e.runId === runId) wanted?.();
    };
    t.app.hooks.on('signal:parked', listener);
    runId = (await t.ok<{ startRun: { id: string } }>(START, { wf })).startRun.id;
    if (!ids.includes(runId)) await new Promise<void>((resolve) => (wanted = resolve));
    t.app.hooks.off('signal:parked', listener);
    return runId;
  };

  beforeAll(async () => {
    t = await startTestApp({ persistent: true, clock, env: { MAX_INPUT_BYTES: '4096' } });
    await t.ok(REGISTER, {
      input: {
        name: 'approval',
        steps: [
          { key: 'prepare', type: 'noop', input: { n: 1 } },
          { key: 'gate', type: 'signal', dependsOn: ['prepare'], input: { name: 'approve' } },
          { key: 'after', type: 'noop', dependsOn: ['gate'], input: { by: '{{ steps.gate.output.by }}' } },
        ],
      },
    });
    await t.ok(REGISTER, {
      input: {
        name: 'early',
        steps: [
          { key: 'nap', type: 'sleep', input: { ms: 1000 } },
          { key: 'g1', type: 'signal', dependsOn: ['nap'], input: { name: 'approve' } },
          { key: 'g2', type: 'signal', dependsOn: ['g1'], input: { name: 'approve' } },
        ],
      },
    });
    await t.ok(REGISTER, {
      input: {
        name: 'hurry',
        steps: [{ key: 'gate', type: 'signal', input: { name: 'go', timeoutMs: 1000 }, retry: { maxAttempts: 2, initialDelayMs: 100, maxDelayMs: 100 } }],
      },
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('completes a waiting step with the payload of a signal sent after it was reached', async () => {
    const runId = await startParked('approval');
    const waiting = await read(runId);
    expect(waiting.status).toBe('RUNNING');
    expect(task(waiting, 'gate').status).toBe('RUNNING');
    expect(task(waiting, 'after').status).toBe('PENDING');
    const metrics = await t.scrape();
    expect(metrics).toMatch(/^maestro_signals_waiting [1-9]/m);

    const sent = await t.ok<{ signalRun: { status: string } }>(SIGNAL, { id: runId, name: 'approve', payload: { by: 'ana' } });
    expect(['RUNNING', 'SUCCEEDED']).toContain(sent.signalRun.status);
    const done = await waitForRun(t, runId);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.output).toEqual({ after: { by: 'ana' } });
    const run = await read(runId);
    expect(task(run, 'gate')).toMatchObject({ status: 'SUCCEEDED', attempt: 1, output: { by: 'ana' } });
    expect(run.events.map((e) => e.seq)).toEqual(run.events.map((_, i) => i + 1));
    expect(await t.scrape()).toMatch(/^maestro_signals_delivered_total\{consumed="true"\} [1-9]/m);
  });

  it('keeps signals sent before the step is reached and hands them out oldest first per name', async () => {
    const runId = (await t.ok<{ startRun: { id: string } }>(START, { wf: 'early' })).startRun.id;
    for (const n of [1, 2]) await t.ok(SIGNAL, { id: runId, name: 'approve', payload: { n } });
    const before = await read(runId);
    expect(task(before, 'g1').status).toBe('PENDING');
    expect(await t.scrape()).toMatch(/^maestro_signals_delivered_total\{consumed="false"\} [2-9]/m);

    // The clock moves once the sleep has set its timer: advanced before (dispatch late on a loaded
    // machine), the timer would start from the advanced time and never fall due (a CI flake).
    const napping = async () =>
      (
        await t.ok<{ run: { tasks: { key: string; waitingFor: { kind: string } | null }[] } }>(
          `query($id: ID!) { run(id: $id) { tasks { key waitingFor { kind } } } }`,
          { id: runId },
        )
      ).run.tasks.find((x) => x.key === 'nap')?.waitingFor?.kind;
    await expect.poll(napping, { timeout: 10_000 }).toBe('SLEEP');
    await clock.advance(1000);
    const done = await waitForRun(t, runId);
    expect(done.status).toBe('SUCCEEDED');
    const run = await read(runId);
    expect(task(run, 'g1').output).toEqual({ n: 1 });
    expect(task(run, 'g2').output).toEqual({ n: 2 });
    // Each took its signal at once: one attempt each, nothing parked.
    expect(task(run, 'g1').attempt).toBe(1);
    expect(task(run, 'g2').attempt).toBe(1);
  });

  it('fails a wait at its timeout; the retry policy waits again, then the run fails', async () => {
    const runId = await startParked('hurry');
    const again = parked(runId);
    await clock.advance(999);
    await t.app.scheduler.settleTimers();
    expect(task(await read(runId), 'gate').status).toBe('RUNNING');
    await clock.advance(1);
    await t.app.scheduler.settleTimers();
    const retried = await read(runId);
    expect(task(retried, 'gate')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    expect(task(retried, 'gate').error).toMatch(/No signal "go" arrived/);
    // Backoff 100 ms (±20 %), then the second attempt parks again.
    await clock.advance(120);
    await t.app.scheduler.settleTimers();
    await again;
    expect(task(await read(runId), 'gate')).toMatchObject({ status: 'RUNNING', attempt: 2 });
    await clock.advance(1000);
    const done = await waitForRun(t, runId);
    expect(done.status).toBe('FAILED');
    expect(done.error).toMatch(/Step "gate" failed: No signal "go" arrived/);
    const run = await read(runId);
    expect(run.events.filter((e) => e.taskKey === 'gate').map((e) => `${e.status}@${e.attempt}`)).toEqual([
      'QUEUED@0',
      'RUNNING@1',
      'QUEUED@1',
      'RUNNING@2',
      'FAILED@2',
    ]);
  });

  it('delivers a signal to a step that parked before a restart', async () => {
    const runId = await startParked('approval');
    await t.restart();
    await t.ok(SIGNAL, { id: runId, name: 'approve', payload: { by: 'restart' } });
    const done = await waitForRun(t, runId);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.output).toEqual({ after: { by: 'restart' } });
  });

  it('refuses a finished run, an unknown name, a too-large payload and too many pending signals with typed errors', async () => {
    const runId = (await t.ok<{ startRun: { id: string } }>(START, { wf: 'early' })).startRun.id;
    const unknown = await t.gql(SIGNAL, { id: runId, name: 'nope', payload: null });
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', knownNames: ['approve'] });
    expect(unknown.errors?.[0]?.message).toMatch(/"nope".*"approve"/);

    const big = await t.gql(SIGNAL, { id: runId, name: 'approve', payload: { s: 'x'.repeat(t.app.config.maxInputBytes + 1) } });
    expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_INPUT_BYTES' });

    for (let i = 0; i < 100; i++) await t.ok(SIGNAL, { id: runId, name: 'approve', payload: i });
    const over = await t.gql(SIGNAL, { id: runId, name: 'approve', payload: 100 });
    expect(over.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_PENDING_SIGNALS_PER_RUN', max: 100 });

    await t.ok(`mutation($id: ID!) { cancelRun(id: $id) { status } }`, { id: runId });
    const finished = await t.gql(SIGNAL, { id: runId, name: 'approve', payload: 1 });
    expect(finished.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', status: 'CANCELLED' });
    expect(finished.errors?.[0]?.message).toMatch(/is CANCELLED/);

    const missing = await t.gql(SIGNAL, { id: '00000000-0000-4000-8000-000000000000', name: 'approve' });
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('checks a literal signal input at registration', async () => {
    for (const input of [{}, { name: '' }, { name: 'a', timeoutMs: 0 }, { name: '{{ input.x }}' }, { name: 'a', extra: 1 }]) {
      const res = await t.gql(REGISTER, { input: { name: 'bad-signal', steps: [{ key: 's', type: 'signal', input }] } });
      expect(res.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_SIGNAL_INPUT' });
    }
  });
});
