// #12 finding 9: the lease log lines carry the ids the runbook searches by (runId, taskId,
// tenantId, workflow), like every other line about a task.
import type { DestinationStream } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger';
import { startTestApp, type TestApp } from '../helpers/app';

describe('lease log lines', () => {
  let t: TestApp;
  const lines: string[] = [];
  const stream: DestinationStream = { write: (s: string) => void lines.push(s) };

  beforeAll(async () => {
    t = await startTestApp({ logger: createLogger({ level: 'debug', destination: stream }), env: { LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '50' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('"lease expired: task reclaimed", "lease renewal refused" and "late result refused … (fenced)" carry runId, taskId, tenantId and workflow', async () => {
    await t.ok(`mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: { name: 'lease-logs', steps: [{ key: 'a', type: 'x', queue: 'lease-logs-q', retry: { maxAttempts: 2, initialDelayMs: 10 } }] },
    });
    const runId = (await t.ok(`mutation { startRun(workflow: "lease-logs") { id } }`)).startRun.id as string;
    const reclaimed = new Promise<void>((resolve) => t.app.hooks.once('task:reclaimed', () => resolve()));
    const [held] = (await t.ok(`mutation { claimTasks(queue: "lease-logs-q", workerId: "silent", waitMs: 5000) { leaseToken task { id } } }`)).claimTasks;
    // No heartbeat: the 1 s lease expires and the reaper takes the task back.
    await reclaimed;
    const vars = { id: held.task.id, tok: held.leaseToken };
    const renewed = await t.gql(`mutation($id: ID!, $tok: String!) { renewLease(taskId: $id, leaseToken: $tok) { leaseExpiresAt } }`, vars);
    expect(renewed.errors?.[0]?.extensions?.code).toBe('LEASE_LOST');
    const late = await t.gql(`mutation($id: ID!, $tok: String!) { completeTask(taskId: $id, leaseToken: $tok) { status } }`, vars);
    expect(late.errors?.[0]?.extensions?.code).toBe('LEASE_LOST');

    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const ids = { runId, taskId: held.task.id, tenantId: 'default', workflow: 'lease-logs' };
    for (const msg of ['lease expired: task reclaimed', 'lease renewal refused', 'late result refused: its lease had expired (fenced)']) {
      const line = parsed.find((l) => l['msg'] === msg);
      expect(line, `a "${msg}" line`).toBeDefined();
      expect(line, msg).toMatchObject(ids);
    }
  });

  it('a renewal answered after its own attempt reported is refused, but neither counted nor logged as a lost lease', async () => {
    // A heartbeat goes on while its result is reported, and can be answered after that result
    // committed: nothing was lost, so the runbook's lease_renew_failures must not move.
    await t.ok(`mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: { name: 'lease-own', steps: [{ key: 'a', type: 'x', queue: 'lease-own-q', retry: { maxAttempts: 3, initialDelayMs: 60_000 } }] },
    });
    const refused: string[] = [];
    const onRefused = (e: { taskId: string }) => void refused.push(e.taskId);
    t.app.hooks.on('lease:renew-failed', onRefused);
    try {
      const renew = (l: { leaseToken: string; task: { id: string } }) =>
        t.gql(`mutation($id: ID!, $tok: String!) { renewLease(taskId: $id, leaseToken: $tok) { leaseExpiresAt } }`, { id: l.task.id, tok: l.leaseToken });
      const claim = async () => {
        await t.ok(`mutation { startRun(workflow: "lease-own") { id } }`);
        const [l] = (await t.ok(`mutation { claimTasks(queue: "lease-own-q", workerId: "w", waitMs: 5000) { leaseToken task { id } } }`)).claimTasks;
        return l as { leaseToken: string; task: { id: string } };
      };
      const vars = (l: { leaseToken: string; task: { id: string } }) => ({ id: l.task.id, tok: l.leaseToken });
      const done = await claim();
      await t.ok(`mutation($id: ID!, $tok: String!) { completeTask(taskId: $id, leaseToken: $tok, output: {}) { status } }`, vars(done));
      const failed = await claim();
      await t.ok(`mutation($id: ID!, $tok: String!) { failTask(taskId: $id, leaseToken: $tok, error: "boom") { status } }`, vars(failed));
      const released = await claim();
      await t.ok(`mutation($id: ID!, $tok: String!) { releaseTask(taskId: $id, leaseToken: $tok) { status } }`, vars(released));
      for (const l of [done, failed, released]) expect((await renew(l)).errors?.[0]?.extensions?.code, l.task.id).toBe('LEASE_LOST');
      expect(refused).toEqual([]);
      // A forged secret on a finished attempt's fence is still a refusal counted as lost.
      const forged = { ...done, leaseToken: `${done.leaseToken.split('.')[0]}.${'A'.repeat(22)}` };
      expect((await renew(forged)).errors?.[0]?.extensions?.code).toBe('LEASE_LOST');
      expect(refused).toEqual([done.task.id]);
    } finally {
      t.app.hooks.off('lease:renew-failed', onRefused);
    }
    const own = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'lease renewal refused' && l['workflow'] === 'lease-own');
    expect(own).toHaveLength(1);
  });
});
