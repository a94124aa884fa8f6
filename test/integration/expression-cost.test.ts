import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * A tenant's CEL expressions cannot hold the conductor's event loop (issue 11: no tenant can hurt
 * the conductor or another tenant; the `when`/forEach expressions of the workflow language
 * amplify it like templates did in finding 1). Before the cost bound, the condition below ran for
 * minutes inside the transition that readied its step — every replica that picked it up stopped
 * serving everyone — and the pattern for hours. Real Postgres + Redis, or embedded.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id } }`;

describe('expression cost', () => {
  let t: TestApp;
  // The hostile tenant is the default one (development, no key); its neighbour has a key.
  const hostile = undefined;
  let neighbour: string;

  beforeAll(async () => {
    t = await startTestApp();
    neighbour = (await t.app.services.auth.createKey('tenant-neighbour')).key;
    await t.ok(REGISTER, { input: { name: 'quick', steps: [{ key: 'a', type: 'noop' }] } }, neighbour);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Polls the neighbour's run until it ends. */
  async function neighbourRun(id: string): Promise<{ status: string }> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { run } = await t.ok(`query($id: ID!) { run(id: $id) { status } }`, { id }, neighbour);
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(run.status) || Date.now() > deadline) return run;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** How long the event loop was held at most while `work` ran. */
  async function longestStall(work: () => Promise<void>): Promise<number> {
    let worst = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 10);
    try {
      await work();
    } finally {
      clearInterval(timer);
    }
    return worst;
  }

  it("a condition whose cost grows with the square of the input fails its step at once; another tenant's run is served", async () => {
    await t.ok(
      REGISTER,
      {
        input: {
          name: 'costly-when',
          steps: [
            { key: 'a', type: 'noop' },
            // 20,000 items: 20,000 concatenations of 40,000 items each (8e8 copies).
            { key: 'b', type: 'noop', dependsOn: ['a'], when: 'input.l.exists(x, size(input.l + input.l) == 0)', retry: { maxAttempts: 5 } },
          ],
        },
      },
      hostile,
    );
    let run: any;
    let quick: any;
    const stall = await longestStall(async () => {
      const started = performance.now();
      const { startRun } = await t.ok(START, { wf: 'costly-when', input: { l: Array.from({ length: 20_000 }, () => 0) } }, hostile);
      const other = (await t.ok(START, { wf: 'quick' }, neighbour)).startRun;
      [run, quick] = await Promise.all([waitForRun(t, startRun.id), neighbourRun(other.id)]);
      console.log(`costly condition: run ${run.status} in ${Math.round(performance.now() - started)} ms`);
    });
    console.log(`longest event-loop stall while it was refused: ${Math.round(stall)} ms`);
    expect(run.status).toBe('FAILED');
    const b = run.tasks.find((x: { key: string }) => x.key === 'b');
    expect(b).toMatchObject({ status: 'FAILED', attempt: 0 });
    expect(b.error).toMatch(/steps\[1\]\.when\) could cost .* \(MAX_CEL_COST\)/);
    expect(quick.status).toBe('SUCCEEDED');
    expect(stall).toBeLessThan(1_000);
  });

  it('a forEach list of references to the input fails its step at once instead of running the process out of memory', async () => {
    await t.ok(REGISTER, {
      input: {
        name: 'costly-list',
        steps: [
          { key: 'a', type: 'noop' },
          { key: 'each', type: 'noop', dependsOn: ['a'], forEach: 'input.l.map(x, input.l)' },
        ],
      },
    });
    // 30,000 references to a 30,000-item list (a 60 KB input): before, the conversion to JSON ran the heap out.
    const { startRun } = await t.ok(START, { wf: 'costly-list', input: { l: Array.from({ length: 30_000 }, () => 0) } });
    const run = await waitForRun(t, startRun.id);
    expect(run.status).toBe('FAILED');
    const each = run.tasks.find((x: { key: string; parentTaskId?: string | null }) => x.key === 'each');
    expect(each.status).toBe('FAILED');
    expect(each.error).toMatch(/could cost .* \(MAX_CEL_COST\)/);
  });

  it('a pattern that backtracks exponentially answers at once', async () => {
    await t.ok(
      REGISTER,
      {
        input: {
          name: 'redos-when',
          steps: [
            { key: 'a', type: 'noop' },
            { key: 'b', type: 'noop', dependsOn: ['a'], when: 'input.s.matches("^(a+)+$")' },
          ],
        },
      },
      hostile,
    );
    let run: any;
    const stall = await longestStall(async () => {
      const { startRun } = await t.ok(START, { wf: 'redos-when', input: { s: `${'a'.repeat(40)}b` } }, hostile);
      run = await waitForRun(t, startRun.id);
    });
    console.log(`exponential pattern over 41 characters: run ${run.status}, longest stall ${Math.round(stall)} ms`);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.tasks.find((x: { key: string }) => x.key === 'b').status).toBe('SKIPPED');
    expect(stall).toBeLessThan(1_000);
  });

  it('a pattern that is not a literal, or needs backtracking, is refused at registration', async () => {
    for (const when of ['input.s.matches(input.pattern)', 'input.s.matches("(a+)\\\\1$")']) {
      const res = await t.gql(
        REGISTER,
        {
          input: {
            name: 'bad-pattern',
            steps: [
              { key: 'a', type: 'noop' },
              { key: 'b', type: 'noop', dependsOn: ['a'], when },
            ],
          },
        },
        hostile,
      );
      expect(res.errors?.[0]?.extensions, when).toMatchObject({ code: 'BAD_USER_INPUT', field: 'steps[1].when', step: 'b' });
      expect(res.errors?.[0]?.message, when).toMatch(/matches\(\)/);
    }
  });
});
