import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { startWorkerProcess, waitFor, type Proc } from '../helpers/processes';

/**
 * A worker whose wall clock runs 30 s ahead or behind (libfaketime: `faketime -f '+30s'`,
 * installed by test/helpers/ensure-faketime.sh) against a conductor on the true time. Leases are
 * judged by the server's clock only: the skewed worker neither loses its lease early (a task
 * running 2.5 lease TTLs, heartbeating, is recorded in one attempt) nor keeps it late (frozen,
 * its task is reclaimed one TTL after its last renewal, by the server's clock).
 */

const LEASE_TTL_MS = 2_000;
const REAPER_INTERVAL_MS = 200;

function hasFaketime(): boolean {
  try {
    execFileSync('faketime', ['-f', '+30s', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface TaskView {
  id: string;
  status: string;
  attempts: { attempt: number; outcome: string | null; workerId: string }[];
}

describe('a worker whose clock is 30 s off (libfaketime)', () => {
  let t: TestApp;
  let apiKey: string;
  const procs: Proc[] = [];

  beforeAll(async () => {
    // Never skipped: CI installs faketime (.ci/run).
    if (!hasFaketime()) throw new Error("faketime is not on PATH: run test/helpers/ensure-faketime.sh (installs Debian's `faketime` package)");
    t = await startTestApp({ env: { LEASE_TTL_MS: String(LEASE_TTL_MS), REAPER_INTERVAL_MS: String(REAPER_INTERVAL_MS) } });
    ({ key: apiKey } = await t.app.services.auth.createKey('skew'));
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await t?.close();
  });

  const run = async (workflow: string, input: Record<string, unknown>) =>
    (await t.ok(`mutation($w: String!, $input: JSON) { startRun(workflow: $w, input: $input) { id } }`, { w: workflow, input }, apiKey)).startRun.id as string;
  const view = async (id: string): Promise<{ status: string; task: TaskView }> => {
    const r = (await t.ok(`query($id: ID!) { run(id: $id) { status tasks { id status attempts { attempt outcome workerId } } } }`, { id }, apiKey)).run;
    return { status: r.status, task: r.tasks[0] };
  };

  it.each([['+30s'], ['-30s']])(
    'clock %s: no lease lost early, none kept late',
    async (skew) => {
      const tag = skew.startsWith('+') ? 'ahead' : 'behind';
      const workflow = `skew-${tag}`;
      await t.ok(
        `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`,
        // A reclaim counts as an attempt here: three leave room for the frozen case's takeover.
        {
          input: {
            name: workflow,
            steps: [{ key: 'work', type: 'echo', queue: workflow, input: '{{ input }}', retry: { maxAttempts: 3, initialDelayMs: 10 } }],
          },
        },
        apiKey,
      );
      const worker = startWorkerProcess({ url: t.app.url, apiKey, id: `skewed-${tag}`, queue: workflow, leaseMs: LEASE_TTL_MS, faketime: skew });
      procs.push(worker);
      await waitFor(() => worker.lines().some((l) => l.msg === 'worker started'), 'the skewed worker to start');
      // Its clock really is off.
      const loggedAt = Date.parse(String(worker.lines().find((l) => l.msg === 'worker started')!['time']));
      const offsetS = Math.round((loggedAt - Date.now()) / 1_000);
      expect(Math.abs(offsetS - (skew.startsWith('+') ? 30 : -30))).toBeLessThanOrEqual(5);

      // Not lost early: 5 s of work on a 2 s lease, kept by heartbeats, recorded in one attempt.
      const long = await run(workflow, { sleepMs: 5_000 });
      const done = await waitFor(async () => {
        const v = await view(long);
        return v.status === 'SUCCEEDED' || v.status === 'FAILED' ? v : null;
      }, 'the long task to finish');
      expect(done.status).toBe('SUCCEEDED');
      expect(done.task.attempts.map((a) => [a.attempt, a.outcome, a.workerId])).toEqual([[1, 'SUCCEEDED', `skewed-${tag}`]]);
      expect(worker.lines().filter((l) => l.msg === 'lease lost')).toEqual([]);

      // Not kept late: frozen mid-task, its task is reclaimed by the server's clock, one TTL after
      // its last renewal (heartbeats every TTL/3): between 2/3 TTL and TTL + reaper interval after the freeze.
      const frozen = await run(workflow, { sleepMs: 60_000, sleepAttempts: 1 });
      const { task } = await waitFor(async () => {
        const v = await view(frozen);
        return v.task.status === 'RUNNING' ? v : null;
      }, 'the task to run under the skewed worker');
      await waitFor(() => worker.lines().some((l) => l.msg === 'task started' && l.taskId === task.id), 'the skewed worker to start the task');
      let reclaimedAt = 0;
      const onReclaimed = (e: { taskId: string }) => {
        if (e.taskId === task.id && !reclaimedAt) reclaimedAt = performance.now();
      };
      t.app.hooks.on('task:reclaimed', onReclaimed);
      worker.signal('SIGSTOP');
      const stoppedAt = performance.now();
      await waitFor(() => reclaimedAt, 'the server to reclaim the frozen task', 15_000);
      t.app.hooks.off('task:reclaimed', onReclaimed);
      const reclaimedMs = Math.round(reclaimedAt - stoppedAt);
      worker.signal('SIGCONT');
      // Woken, it hears LEASE_LOST and takes the retry (attempt 2 sleeps no more).
      const after = await waitFor(async () => {
        const v = await view(frozen);
        return v.status === 'SUCCEEDED' || v.status === 'FAILED' ? v : null;
      }, 'the frozen run to finish after SIGCONT');
      console.log(
        `[clock-skew] worker clock ${offsetS > 0 ? '+' : ''}${offsetS} s: a 5 s task on a ${LEASE_TTL_MS} ms lease recorded in 1 attempt, 0 leases lost; ` +
          `frozen, its task was reclaimed ${reclaimedMs} ms after SIGSTOP (bounds ${Math.round((2 * LEASE_TTL_MS) / 3)}–${LEASE_TTL_MS + REAPER_INTERVAL_MS + 1_500} ms); ` +
          `attempts: ${after.task.attempts.map((a) => a.outcome).join(', ')}`,
      );
      expect(reclaimedMs).toBeGreaterThanOrEqual(Math.floor((2 * LEASE_TTL_MS) / 3) - 50);
      expect(reclaimedMs).toBeLessThanOrEqual(LEASE_TTL_MS + REAPER_INTERVAL_MS + 1_500);
      expect(after.status).toBe('SUCCEEDED');
      expect(after.task.attempts.map((a) => a.outcome)).toEqual(['LEASE_EXPIRED', 'SUCCEEDED']);
      await worker.kill();
    },
    60_000,
  );
});
