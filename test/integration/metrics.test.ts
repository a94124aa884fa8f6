import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { RUNBOOK_METRICS } from '../helpers/runbook';

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('/metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '50' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const scrape = async () => {
    const res = await fetch(t.app.metricsUrl);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    return res.text();
  };

  it('serves metrics on the metrics port only: the API port answers 404', async () => {
    expect(t.app.metricsPort).not.toBe(t.app.port);
    const onApi = await fetch(new URL('/metrics', t.app.url));
    expect(onApi.status).toBe(404);
    expect(await onApi.text()).not.toContain('maestro_jobs_started_total');
    expect((await fetch(t.app.metricsUrl)).status).toBe(200);
    expect((await fetch(new URL('/graphql', t.app.metricsUrl))).status).toBe(404);
  });

  it('exposes every runbook metric with its type, counting runs, failures, reclaims and requests', async () => {
    await t.ok(`mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: { name: 'm-ok', steps: [{ key: 'a', type: 'noop' }] },
    });
    await t.ok(`mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: { name: 'm-bad', steps: [{ key: 'a', type: 'http', input: { url: 'http://127.0.0.1:1/nothing' } }] },
    });
    await t.ok(`mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: { name: 'm-remote', steps: [{ key: 'a', type: 'x', queue: 'metrics-q', retry: { maxAttempts: 2, initialDelayMs: 10 } }] },
    });
    const ok = (await t.ok(`mutation { startRun(workflow: "m-ok") { id } }`)).startRun.id;
    const bad = (await t.ok(`mutation { startRun(workflow: "m-bad") { id } }`)).startRun.id;
    const remote = (await t.ok(`mutation { startRun(workflow: "m-remote") { id } }`)).startRun.id;
    expect((await waitForRun(t, ok)).status).toBe('SUCCEEDED');
    expect((await waitForRun(t, bad)).status).toBe('FAILED');
    // A worker that never heartbeats: its lease expires and the task is reclaimed.
    const claim = (workerId: string) => `mutation { claimTasks(queue: "metrics-q", workerId: "${workerId}", waitMs: 5000) { leaseToken task { id } } }`;
    const [first] = (await t.ok(claim('m'))).claimTasks;
    // Another worker takes it over (the same worker's poll would not get back the task it lost).
    const [second] = (await t.ok(claim('m2'))).claimTasks;
    const lost = await t.gql(`mutation($id: ID!, $tok: String!) { renewLease(taskId: $id, leaseToken: $tok) { leaseExpiresAt } }`, {
      id: first.task.id,
      tok: first.leaseToken,
    });
    expect(lost.errors?.[0]?.extensions?.code).toBe('LEASE_LOST');
    await t.ok(`mutation($id: ID!, $tok: String!) { completeTask(taskId: $id, leaseToken: $tok) { status } }`, { id: second.task.id, tok: second.leaseToken });
    expect((await waitForRun(t, remote)).status).toBe('SUCCEEDED');

    const text = await scrape();
    // A histogram shows as its _bucket/_sum/_count series.
    for (const name of RUNBOOK_METRICS) expect(text, name).toMatch(new RegExp(`^${name}(_bucket)?[{ ]`, 'm'));
    for (const [name, type] of [
      ['maestro_jobs_started_total', 'counter'],
      ['maestro_job_latency_seconds', 'histogram'],
      ['maestro_runs_active', 'gauge'],
      ['maestro_queue_depth', 'gauge'],
      ['http_request_duration_seconds', 'histogram'],
      ['process_memory_bytes', 'gauge'],
    ]) {
      expect(text).toContain(`# TYPE ${name} ${type}`);
    }
    expect(sample(text, 'maestro_jobs_started_total', { workflow: 'm-ok' })).toBe(1);
    expect(sample(text, 'maestro_jobs_succeeded_total', { workflow: 'm-ok' })).toBe(1);
    expect(sample(text, 'maestro_jobs_failed_total', { workflow: 'm-bad' })).toBe(1);
    expect(sample(text, 'maestro_orphaned_tasks_reclaimed_total')).toBe(1);
    expect(sample(text, 'maestro_lease_renew_failures_total', { reason: 'LEASE_LOST' })).toBe(1);
    expect(sample(text, 'maestro_runs_active')).toBe(0);
    expect(sample(text, 'http_requests_total', { route: '/graphql', method: 'POST', status_code: '200' })).toBeGreaterThan(5);
    expect(sample(text, 'maestro_graphql_operations_total', { operation: 'anonymous', type: 'mutation', outcome: 'error' })).toBeGreaterThanOrEqual(1);
    // No run or task ids as label values: bounded cardinality.
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
  });

  it('reports queue depth per queue, the same cluster-wide figure on every replica', async () => {
    await t.ok(`mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: { name: 'm-depth', steps: [{ key: 'a', type: 'x', queue: 'depth-q' }] },
    });
    for (let i = 0; i < 3; i++) await t.ok(`mutation { startRun(workflow: "m-depth") { id } }`);
    // The gauges are cached for a second; poll until the new figure shows.
    const deadline = Date.now() + 5000;
    let text = await scrape();
    while (sample(text, 'maestro_queue_depth', { queue: 'depth-q' }) !== 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      text = await scrape();
    }
    expect(sample(text, 'maestro_queue_depth', { queue: 'depth-q' })).toBe(3);
    expect(sample(text, 'maestro_runs_active')).toBe(3);
  });

  it('counts open WebSockets in maestro_subscriptions_active (the gauge reads the transport)', async () => {
    expect(sample(await scrape(), 'maestro_subscriptions_active')).toBe(0);
    const client = t.ws();
    const sub = collect(client, `subscription { runEvents(workflow: "m-gauge") { runId } }`, {}, () => false);
    const ended = sub.done.catch(() => undefined);
    await sub.ready;
    expect(sample(await scrape(), 'maestro_subscriptions_active')).toBe(1);
    await client.dispose();
    await ended;
  });
});
