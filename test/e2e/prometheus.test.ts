import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { REAL_REDIS } from '../helpers/db';
import { freePort } from '../helpers/net';
import { RUNBOOK_QUERIES } from '../helpers/runbook';

const root = join(__dirname, '..', '..');

function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(join(root, 'charts/maestro/grafana-dashboard-full.json'), 'utf8')) as { panels: unknown[] };
  const out: string[] = [];
  const walk = (panels: { panels?: unknown[]; targets?: { expr?: string }[] }[]) => {
    for (const p of panels) {
      walk((p.panels ?? []) as never);
      for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
    }
  };
  walk(dashboard.panels as never);
  return [...new Set(out)];
}

describe('a real Prometheus scraping a conductor that did work', () => {
  let t: TestApp;
  let prometheus: ChildProcess;
  let dir: string;
  let api = '';

  beforeAll(async () => {
    t = await startTestApp({ env: { LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '50' } });
    const register = `mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`;
    // A false condition: the skipped-tasks panel has a series.
    await t.ok(register, {
      i: {
        name: 'p-ok',
        steps: [
          { key: 'a', type: 'noop' },
          { key: 'b', type: 'noop', when: 'has(input.go)' },
        ],
      },
    });
    await t.ok(register, { i: { name: 'p-bad', steps: [{ key: 'a', type: 'http', input: { url: 'http://127.0.0.1:1/' } }] } });
    await t.ok(register, { i: { name: 'p-remote', steps: [{ key: 'a', type: 'x', queue: 'prom-q', retry: { maxAttempts: 2, initialDelayMs: 10 } }] } });
    await t.ok(register, { i: { name: 'p-waiting', steps: [{ key: 'a', type: 'x', queue: 'prom-backlog' }] } });
    for (const wf of ['p-ok', 'p-bad']) await waitForRun(t, (await t.ok(`mutation { startRun(workflow: "${wf}") { id } }`)).startRun.id);
    await t.ok(`mutation { startRun(workflow: "p-waiting") { id } }`);
    // One reclaimed lease: claimed, never renewed, reclaimed, claimed again and completed.
    const remote = (await t.ok(`mutation { startRun(workflow: "p-remote") { id } }`)).startRun.id;
    const claim = (workerId: string) => `mutation { claimTasks(queue: "prom-q", workerId: "${workerId}", waitMs: 5000) { leaseToken task { id } } }`;
    const [first] = (await t.ok(claim('p'))).claimTasks;
    // Another worker takes it over (the same worker's open poll never gets back the task it lost).
    const [second] = (await t.ok(claim('p2'))).claimTasks;
    await t.gql(`mutation($id: ID!, $tok: String!) { renewLease(taskId: $id, leaseToken: $tok) { leaseToken } }`, { id: first.task.id, tok: first.leaseToken });
    await t.ok(`mutation($id: ID!, $tok: String!) { completeTask(taskId: $id, leaseToken: $tok) { status } }`, { id: second.task.id, tok: second.leaseToken });
    await waitForRun(t, remote);

    dir = mkdtempSync(join(tmpdir(), 'maestro-prom-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: maestro\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:${t.app.metricsPort}']\n`,
    );
    prometheus = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      {
        stdio: 'ignore',
      },
    );
    prometheus.once('error', (e) => {
      throw new Error(`prometheus could not start (run test/helpers/ensure-promtool.sh): ${e.message}`);
    });
    api = `http://127.0.0.1:${port}/api/v1`;
    // Enough scrapes for rate() over a window: wait until 4 samples of `up` exist.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await query('count_over_time(up{job="maestro"}[1m])').catch(() => null);
      const n = Number(r?.data?.result?.[0]?.value?.[1] ?? 0);
      if (n >= 4) break;
      if (Date.now() > deadline) throw new Error('Prometheus did not scrape the conductor');
      await new Promise((res) => setTimeout(res, 250));
    }
  }, 90_000);

  afterAll(async () => {
    prometheus?.kill('SIGKILL');
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function query(
    expr: string,
  ): Promise<{ status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } }> {
    const res = await fetch(`${api}/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as never;
  }

  it.each(RUNBOOK_QUERIES)('runbook query %s returns a series', async (expr) => {
    const r = await query(expr);
    expect(r.status, r.error).toBe('success');
    expect(r.data!.result.length, `no series for ${expr}`).toBeGreaterThan(0);
  });

  it('serves /metrics that `promtool check metrics` accepts', async () => {
    const text = await t.scrape();
    const check = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    check.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    check.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    check.stdin!.end(text);
    const [code] = (await once(check, 'exit')) as [number];
    // The one lint note is the runbook's own name, `maestro_schedule_latency_ms` ("abbreviated
    // unit"): the runbook is the contract SREs query, so it stays, with a `_seconds` histogram
    // beside it. promtool exits 3 for lint notes; any other finding fails here.
    const notes = out.trim().split('\n').filter(Boolean);
    expect(notes).toEqual(['maestro_schedule_latency_ms metric names should not contain abbreviated units']);
    expect(code).toBe(3);
  });

  it('counts the failure and the reclaim the conductor saw', async () => {
    const failed = await query('sum(maestro_jobs_failed_total{workflow="p-bad"})');
    expect(Number(failed.data!.result[0]!.value[1])).toBe(1);
    const reclaimed = await query('sum(maestro_orphaned_tasks_reclaimed_total)');
    expect(Number(reclaimed.data!.result[0]!.value[1])).toBeGreaterThanOrEqual(1);
    const backlog = await query('max(maestro_queue_depth{queue="prom-backlog"})');
    expect(Number(backlog.data!.result[0]!.value[1])).toBe(1);
  });

  it('evaluates every dashboard panel expression to a series, without errors', async () => {
    const failures: string[] = [];
    for (const expr of dashboardExpressions()) {
      // Without Redis there is no Redis to be up: the panel is empty by design in embedded mode.
      if (!REAL_REDIS && expr.includes('maestro_redis_up')) continue;
      const r = await query(expr.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '15s'));
      if (r.status !== 'success') failures.push(`${expr}: ${r.error}`);
      else if (r.data!.result.length === 0) failures.push(`${expr}: no series`);
    }
    expect(failures).toEqual([]);
  });
});
