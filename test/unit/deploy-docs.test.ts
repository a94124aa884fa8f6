// README-DEPLOY.md and docs/RUNBOOK.md against what we ship: the variables the server reads, the
// start-up lines an SRE sees for each bad one, the metric names, the runbook's names and commands.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_VARS, loadConfig, SECRET_VARS, type EnvVarName } from '../../src/config';
import { RUNBOOK_DEPLOYMENT as RB } from '../helpers/runbook';

const root = join(__dirname, '..', '..');
const deployGuide = readFileSync(join(root, 'README-DEPLOY.md'), 'utf8');
const runbook = readFileSync(join(root, 'docs', 'RUNBOOK.md'), 'utf8');

/** Rows of the markdown table whose header starts with `header`, as arrays of cells. */
function table(markdown: string, header: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim().startsWith(`| ${header}`));
  expect(start, `a table starting "| ${header}"`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.trim().startsWith('|')) break;
    rows.push(
      line
        .trim()
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
  }
  return rows;
}
const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

describe('README-DEPLOY.md', () => {
  it('lists every variable the server reads, once, with ConfigMap or Secret as the chart does', () => {
    const rows = table(deployGuide, 'variable | in |');
    expect(rows.map((r) => unquote(r[0]!)).sort()).toEqual([...ENV_VARS].sort());
    for (const [name, where] of rows) {
      expect(where, name).toBe(SECRET_VARS.has(unquote(name!) as EnvVarName) ? 'Secret' : 'ConfigMap');
    }
  });

  it('uses the runbook namespace, release, ConfigMap and Secret names, and its rollback and cosign commands', () => {
    for (const text of [
      RB.namespace,
      RB.configMap,
      RB.secret,
      'helm rollback maestro -n intelgraph-dev <REVISION>',
      'cosign verify',
      'helm upgrade --install maestro charts/maestro -n intelgraph-dev',
    ]) {
      expect(deployGuide).toContain(text);
    }
  });

  it('covers prerequisites, verification, scaling and rollback', () => {
    for (const heading of [
      '## Prerequisites',
      '## Configuration and secrets',
      '## Install into intelgraph-dev',
      '## Verify the deployment',
      '## Scaling',
      '## Rollback',
      '## Verify the image signature',
    ]) {
      expect(deployGuide).toContain(heading);
    }
    for (const prerequisite of ['**Postgres**', '**Redis**', '**Prometheus Operator**', '**Grafana**']) expect(deployGuide).toContain(prerequisite);
  });
});

describe('docs/RUNBOOK.md', () => {
  it('keeps the sections the alerts link to', () => {
    for (const heading of [
      '### High error rate',
      '### High latency',
      '### Pod restarts',
      '### Queue backlog',
      '### Lease renewal failures',
      '### PII checks',
    ]) {
      expect(runbook.split('\n')).toContain(heading);
    }
  });

  const rows = table(runbook, 'variable | bad value |');

  it('shows the start-up line for every variable that can be wrong', () => {
    const documented = new Set(rows.map((r) => unquote(r[0]!)));
    const anyText = ENV_VARS.filter((v) => !documented.has(v));
    expect(anyText.sort()).toEqual(['HOST', 'MAESTRO_DATA_DIR']);
    expect(runbook).toContain('`HOST` and `MAESTRO_DATA_DIR` accept any text');
  });

  it.each(rows.map((r) => [unquote(r[0]!), r[1]!, unquote(r[2]!)] as const))('%s = %s: the line is what the server prints', (name, value, line) => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://maestro@db/maestro', REDIS_URL: 'redis://redis:6379' };
    const given = value === 'unset' ? undefined : value === '129 characters' ? 'x'.repeat(129) : unquote(value);
    let error: unknown;
    try {
      loadConfig({ ...production, [name]: given });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const printed = (error as ConfigError).message;
    expect(printed.split('\n')).toHaveLength(1);
    // The documented line, up to the echoed value (shortened in the table when long).
    const cut = (s: string) => s.slice(0, s.lastIndexOf(' (got '));
    expect(cut(line)).toBe(cut(printed));
    if (!line.endsWith('…")`') && !line.endsWith('…")')) expect(line).toBe(printed);
  });

  it('names only metrics the conductor exports', () => {
    // The registry, and the metrics of a feature registered into it from a module of its own.
    const source = ['metrics.ts', 'schedule-metrics.ts'].map((f) => readFileSync(join(root, 'src', 'observability', f), 'utf8')).join('\n');
    const exported = new Set([...source.matchAll(/name: '([a-z_]+)'/g)].map((m) => m[1]));
    for (const text of [runbook, deployGuide]) {
      const named = new Set([...text.matchAll(/\b((?:maestro|http_request|process)_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')));
      expect([...named].filter((n) => !exported.has(n) && n !== 'process_cpu_seconds_total')).toEqual([]);
    }
  });

  it('gives the runbook commands with the names the chart creates', () => {
    for (const command of RB.commands) expect(runbook + deployGuide).toContain(command);
  });
});
