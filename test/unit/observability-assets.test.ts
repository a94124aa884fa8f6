// The dashboard and alert rules under charts/maestro/ against the runbook (docs/RUNBOOK.md, section 2):
// the dashboard's shape and queries, and the alert rules through promtool (Debian's `prometheus` package;
// test/helpers/ensure-promtool.sh installs it). Without promtool these tests fail: they never skip.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNBOOK_METRICS } from '../helpers/runbook';

const root = join(__dirname, '..', '..');
const chart = join(root, 'charts', 'maestro');
const DASHBOARD = join(chart, 'grafana-dashboard-full.json');
const RULES = join(chart, 'prometheus-rules.yaml');
const RULES_TEST = join(chart, 'prometheus-rules.test.yaml');

/** Runbook 2.2 "Key Panels": one dashboard row each. */
const PANEL_GROUPS = ['Job Success/Failure', 'Latency', 'Queue Depth', 'API Performance', 'Resource Saturation', 'Orchestrator Health & Activity'] as const;

/** Gauges read from the database: every replica exports the same value, so they are aggregated with max. */
const DB_GAUGES = ['maestro_runs_active', 'maestro_tasks_inflight', 'maestro_queue_depth'] as const;

/** Alert name → the docs/RUNBOOK.md anchor its runbook_url points to. */
const ALERTS: Record<string, string> = {
  MaestroHighErrorRate: 'high-error-rate',
  MaestroHighLatency: 'high-latency',
  MaestroPodRestarts: 'pod-restarts',
  MaestroQueueBacklog: 'queue-backlog',
  MaestroLeaseRenewalFailures: 'lease-renewal-failures',
};
const RUNBOOK_URL = 'https://github.com/intelgraph/maestro-conductor/blob/main/docs/RUNBOOK.md#';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

interface Target {
  datasource?: unknown;
  expr?: string;
  legendFormat?: string;
  refId: string;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  collapsed?: boolean;
  datasource?: unknown;
  fieldConfig?: { defaults?: { unit?: string } };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}

interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/** Rows with the panels under them: the panels that follow a row, or a collapsed row's own. */
function rows(d: Dashboard): { title: string; panels: Panel[] }[] {
  const out: { title: string; panels: Panel[] }[] = [];
  for (const p of d.panels) {
    if (p.type === 'row') {
      out.push({ title: p.title, panels: [...(p.panels ?? [])] });
    } else {
      if (out.length === 0) out.push({ title: '(no row)', panels: [] });
      out[out.length - 1].panels.push(p);
    }
  }
  return out;
}

const dataPanels = rows(dashboard).flatMap((r) => r.panels);
const queries = dataPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t, expr: t.expr ?? '' })));

/** Grafana's interval variables, as Prometheus would see them for a 5m window. */
function expandGrafanaVariables(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range|\$\{__rate_interval\}|\$\{__interval\}|\$\{__range\}/g, '5m');
}

function hasMetric(expr: string, metric: string): boolean {
  return new RegExp(`\\b${metric}(?:_bucket|_sum|_count)?\\b`).test(expr);
}

describe('grafana-dashboard-full.json', () => {
  it('is the runbook dashboard: title, uid, a Grafana 10/11 schema', () => {
    expect(dashboard.title).toBe('IntelGraph Maestro - Full Production Overview');
    expect(dashboard.uid).toBe('intelgraph-maestro-full-prod');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
  });

  it('has a Prometheus datasource variable named datasource', () => {
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
  });

  it('queries ${datasource} from every panel and every target', () => {
    expect(dataPanels.length).toBeGreaterThan(0);
    for (const p of dataPanels) {
      expect(p.datasource, `panel "${p.title}"`).toEqual(DATASOURCE);
      expect(p.targets?.length, `panel "${p.title}" has no queries`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.datasource, `panel "${p.title}" target ${t.refId}`).toEqual(DATASOURCE);
      }
    }
  });

  it('has a non-empty row for each of the runbook key panels', () => {
    const byTitle = new Map(rows(dashboard).map((r) => [r.title, r.panels.length]));
    for (const group of PANEL_GROUPS) {
      expect(byTitle.get(group), `row "${group}"`).toBeGreaterThan(0);
    }
  });

  it.each(RUNBOOK_METRICS)('charts runbook metric %s', (metric) => {
    expect(queries.some((q) => hasMetric(q.expr, metric))).toBe(true);
  });

  it('aggregates database gauges with max, never sum', () => {
    for (const gauge of DB_GAUGES) {
      for (const q of queries.filter((x) => hasMetric(x.expr, gauge))) {
        expect(q.expr, `panel "${q.panel.title}"`).toMatch(/\bmax\b/);
        expect(q.expr, `panel "${q.panel.title}"`).not.toMatch(new RegExp(`\\bsum\\s*(?:by\\s*\\([^)]*\\)\\s*)?\\(\\s*${gauge}\\b`));
      }
    }
  });

  it('sets a unit on every panel and a legend on every query', () => {
    for (const p of dataPanels) {
      expect(p.fieldConfig?.defaults?.unit, `panel "${p.title}" unit`).toBeTruthy();
      for (const t of p.targets ?? []) {
        expect(t.legendFormat, `panel "${p.title}" target ${t.refId} legend`).toBeTruthy();
      }
    }
  });

  it('has unique panel ids and a layout within the 24-column grid', () => {
    const all = [...dashboard.panels, ...dashboard.panels.flatMap((p) => p.panels ?? [])];
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    for (const p of all) {
      expect(p.gridPos.x + p.gridPos.w, `panel "${p.title}"`).toBeLessThanOrEqual(24);
    }
  });
});

describe('prometheus-rules.yaml', () => {
  const text = readFileSync(RULES, 'utf8');
  const blocks = text.split(/^\s*- alert: /m).slice(1);

  it('is a plain rule file, not a PrometheusRule resource', () => {
    expect(text).toMatch(/^groups:$/m);
    expect(text).not.toMatch(/^kind:/m);
  });

  it('defines each runbook alert with for, severity, summary, description and a runbook anchor', () => {
    const names = new Set(blocks.map((b) => b.split('\n')[0].trim()));
    expect([...names].sort()).toEqual(Object.keys(ALERTS).sort());
    for (const block of blocks) {
      const name = block.split('\n')[0].trim();
      for (const key of ['expr', 'for', 'severity', 'summary', 'description']) {
        expect(block, `${name} has no ${key}`).toMatch(new RegExp(`^\\s+${key}: `, 'm'));
      }
      expect(block, `${name} runbook_url`).toContain(`runbook_url: ${RUNBOOK_URL}${ALERTS[name]}\n`);
    }
  });

  it('has a unit test where each alert fires and one where it stays quiet', () => {
    const tests = readFileSync(RULES_TEST, 'utf8');
    for (const name of Object.keys(ALERTS)) {
      expect(tests, `${name} fires`).toMatch(new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`));
      expect(tests, `${name} stays quiet`).toMatch(new RegExp(`alertname: ${name}\\n\\s+exp_alerts: \\[\\]`));
    }
  });
});

interface Run {
  status: number | null;
  output: string;
}

function promtool(args: string[]): Run {
  const r = spawnSync('promtool', args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error("promtool is not on PATH: run test/helpers/ensure-promtool.sh (installs Debian's `prometheus` package)");
  }
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('promtool', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'maestro-promtool-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is installed', () => {
    expect(promtool(['--version']).status).toBe(0);
  });

  it('checks the alert rules', () => {
    const r = promtool(['check', 'rules', 'charts/maestro/prometheus-rules.yaml']);
    expect(r.status, r.output).toBe(0);
  });

  it('passes the alert rule unit tests', () => {
    const r = promtool(['test', 'rules', 'charts/maestro/prometheus-rules.test.yaml']);
    expect(r.status, r.output).toBe(0);
  });

  /** promtool parses PromQL only inside rule files: each expression becomes a recording rule. */
  function checkExpressions(name: string, exprs: { record: string; expr: string }[]): Run {
    const file = join(dir, `${name}.rules.json`); // JSON is YAML
    writeFileSync(file, JSON.stringify({ groups: [{ name, rules: exprs }] }, null, 2));
    return promtool(['check', 'rules', file]);
  }

  it('parses every dashboard expression as PromQL', () => {
    expect(queries.length).toBeGreaterThan(0);
    const exprs = queries.map((q) => ({ record: `dashboard:panel_${q.panel.id}_${q.target.refId}`, expr: expandGrafanaVariables(q.expr) }));
    const r = checkExpressions('dashboard', exprs);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('rejects an expression that is not PromQL (the check above can fail)', () => {
    const r = checkExpressions('broken', [{ record: 'dashboard:broken', expr: 'sum(rate(maestro_jobs_started_total[5m])' }]);
    expect(r.status).not.toBe(0);
  });
});
