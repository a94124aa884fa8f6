/**
 * The benchmark harness: every scenario runs each of its sides (us, the peers, a baseline)
 * alternately, A/B/A/B, for several repeats, so drift of a shared machine hits every side alike.
 * Ratios of medians are the result; absolute figures are context.
 */
import { median } from './stats';

export type Direction = 'higher' | 'lower';

export interface MetricSpec {
  key: string;
  label: string;
  unit: string;
  /** Which way is better, so the table can say who leads. */
  better: Direction;
}

/** One figure set of one side in one repeat. Missing metrics are not measured for that side. */
export type Sample = Record<string, number>;

export interface Side {
  name: string;
  role: 'ours' | 'peer' | 'baseline';
  /** What was configured on this side (concurrency, batch sizes, versions). */
  settings: Record<string, unknown>;
  /** Sets up from scratch, measures, tears down. */
  sample(ctx: BenchContext): Promise<Sample>;
}

export interface Scenario {
  id: string;
  title: string;
  metrics: MetricSpec[];
  sides(ctx: BenchContext): Side[];
}

export interface BenchContext {
  quick: boolean;
  /** Postgres server every side uses (a database of its own per sample). */
  postgresUrl: string;
  redisUrl: string;
  progress(message: string): void;
  /** Scale: `full` in a real run, `quick` under --quick. */
  scale<T>(full: T, quick: T): T;
}

export interface ScenarioResult {
  id: string;
  title: string;
  metrics: MetricSpec[];
  sides: { name: string; role: Side['role']; settings: Record<string, unknown>; samples: Sample[]; medians: Sample }[];
}

export async function runScenario(scenario: Scenario, ctx: BenchContext, repeats: number): Promise<ScenarioResult> {
  const sides = scenario.sides(ctx);
  const samples = new Map<Side, Sample[]>(sides.map((s) => [s, []]));
  for (let r = 0; r < repeats; r++) {
    // Rotate the order each repeat: nobody always goes first on a cold cache.
    const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
    for (const side of order) {
      ctx.progress(`[${scenario.id}] repeat ${r + 1}/${repeats}: ${side.name} …`);
      const t0 = performance.now();
      const sample = await side.sample(ctx);
      samples.get(side)!.push(sample);
      const shown = scenario.metrics
        .filter((m) => sample[m.key] !== undefined)
        .map((m) => `${m.key}=${format(sample[m.key]!)}`)
        .join(' ');
      ctx.progress(`[${scenario.id}] repeat ${r + 1}/${repeats}: ${side.name} ${shown} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
  return {
    id: scenario.id,
    title: scenario.title,
    metrics: scenario.metrics,
    sides: sides.map((side) => {
      const all = samples.get(side)!;
      const medians: Sample = {};
      for (const m of scenario.metrics) {
        const values = all.map((s) => s[m.key]).filter((v): v is number => v !== undefined && Number.isFinite(v));
        if (values.length) medians[m.key] = median(values);
      }
      return { name: side.name, role: side.role, settings: side.settings, samples: all, medians };
    }),
  };
}

export function format(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/**
 * A markdown table per scenario: every metric, our median, each other side's median and
 * ours/theirs. "leads" reads the ratio with the metric's direction.
 */
export function renderTable(results: ScenarioResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const ours = r.sides.find((s) => s.role === 'ours');
    const others = r.sides.filter((s) => s.role !== 'ours');
    lines.push(`### ${r.id}. ${r.title}`, '');
    lines.push('| metric | ours | vs | theirs | ours/theirs | ours ahead? |', '|---|---:|---|---:|---:|:---:|');
    for (const m of r.metrics) {
      const a = ours?.medians[m.key];
      for (const other of others) {
        const b = other.medians[m.key];
        if (a === undefined && b === undefined) continue;
        const ratio = a !== undefined && b !== undefined && b !== 0 ? a / b : NaN;
        const ahead = Number.isFinite(ratio) ? ((m.better === 'higher' ? ratio >= 1 : ratio <= 1) ? 'yes' : 'no') : '';
        lines.push(
          `| ${m.label} (${m.unit}) | ${a === undefined ? '–' : format(a)} | ${other.name} | ${b === undefined ? '–' : format(b)} | ${Number.isFinite(ratio) ? ratio.toFixed(2) + '×' : '–'} | ${ahead} |`,
        );
      }
      if (others.length === 0 && a !== undefined) lines.push(`| ${m.label} (${m.unit}) | ${format(a)} | – | – | – | |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
