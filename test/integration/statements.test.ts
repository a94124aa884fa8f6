import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * The engine's database cost, pinned: every statement sent to Postgres (BEGIN and COMMIT
 * included) while 10-step chains of built-in steps run from start to finish. Eager dispatch and
 * one-statement transitions brought it from 159 to 56-58 per run, eager start (the first step
 * claimed in the start's insert) to 51, a result's runs locked and its tasks read in one statement
 * to 41; a change that adds a statement to the hot path shows here.
 * (Allowed over it: the claims' hints, which look for gated and rate-limited tasks once a second,
 * 0.2 a run over five runs when one falls in, and one claim transaction, 0.8 a run, when a
 * dispatch pass held the free slot as a step became ready.)
 */
const MAX_STATEMENTS_PER_RUN = 42;
/**
 * A one-step run: its start (one insert, its step claimed in it: eager start) and its result
 * (BEGIN, the run locked with its tasks, the write, COMMIT). Was 13, then 10 with the claim a
 * transaction of its own (BEGIN, the claim returning its runs, the write, COMMIT), then 6 with
 * the run locked and its tasks read in two statements. The same allowance as above.
 */
const MAX_STATEMENTS_PER_ONE_STEP_RUN = 6;
const RUNS = 5;

describe('statements per run', () => {
  let t: TestApp;
  beforeAll(async () => {
    // No background passes while counting: polls, sweeps and reapers would add their own statements.
    t = await startTestApp({ env: { SCHEDULER_POLL_INTERVAL_MS: '60000', ORPHAN_SWEEP_INTERVAL_MS: '600000', REAPER_INTERVAL_MS: '60000' } });
    const steps = Array.from({ length: 10 }, (_, i) => ({ key: `s${i + 1}`, type: 'noop', dependsOn: i ? [`s${i}`] : [] }));
    await t.app.services.workflows.register('default', { name: 'chain', steps });
    await t.app.services.workflows.register('default', { name: 'one', steps: [{ key: 'only', type: 'noop' }] });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await t?.close();
  });

  const runOne = async (workflow = 'chain') => {
    let resolve!: (status: string) => void;
    const finished = new Promise<string>((r) => (resolve = r));
    let runId = '';
    const seen = new Map<string, string>();
    const onFinished = (e: { runId: string; status: string }) => (e.runId === runId ? resolve(e.status) : seen.set(e.runId, e.status));
    t.app.hooks.on('run:finished', onFinished);
    try {
      runId = (await t.app.services.runs.start('default', { workflow })).id;
      const early = seen.get(runId);
      if (early) resolve(early);
      return await finished;
    } finally {
      t.app.hooks.off('run:finished', onFinished);
    }
  };

  it(`a 10-step chain of built-in steps costs at most ${MAX_STATEMENTS_PER_RUN} statements`, async () => {
    // Warm: the workflow and its definition are in the replica's memory, connections are open.
    expect(await runOne()).toBe('SUCCEEDED');
    const query = vi.spyOn(pg.Client.prototype, 'query');
    for (let i = 0; i < RUNS; i++) expect(await runOne()).toBe('SUCCEEDED');
    const statements = query.mock.calls.length;
    query.mockRestore();
    const perRun = statements / RUNS;
    console.log(`[statements] ${perRun} statements per 10-step run (${statements} over ${RUNS} runs; pinned at ≤ ${MAX_STATEMENTS_PER_RUN})`);
    expect(perRun).toBeLessThanOrEqual(MAX_STATEMENTS_PER_RUN);
  });

  it(`a one-step run costs at most ${MAX_STATEMENTS_PER_ONE_STEP_RUN} statements`, async () => {
    expect(await runOne('one')).toBe('SUCCEEDED');
    const query = vi.spyOn(pg.Client.prototype, 'query');
    for (let i = 0; i < RUNS; i++) expect(await runOne('one')).toBe('SUCCEEDED');
    const statements = query.mock.calls.length;
    query.mockRestore();
    const perRun = statements / RUNS;
    console.log(`[statements] ${perRun} statements per one-step run (${statements} over ${RUNS} runs; pinned at ≤ ${MAX_STATEMENTS_PER_ONE_STEP_RUN})`);
    expect(perRun).toBeLessThanOrEqual(MAX_STATEMENTS_PER_ONE_STEP_RUN);
  });
});
