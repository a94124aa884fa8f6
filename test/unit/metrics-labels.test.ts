import { describe, expect, it } from 'vitest';
import { EngineHooks } from '../../src/domain/hooks';
import { LabelBudget, OVERFLOW_LABEL } from '../../src/observability/label-budget';
import { createMetrics, type ClusterGauges } from '../../src/observability/metrics';

describe('LabelBudget', () => {
  it('keeps the first `max` values, reports later ones as __other__, and never counts reserved ones', () => {
    const budget = new LabelBudget(2, new Set(['builtin']));
    expect(['a', 'builtin', 'b', 'c', 'a', 'builtin', 'd', 'b'].map((v) => budget.value(v))).toEqual([
      'a',
      'builtin',
      'b',
      OVERFLOW_LABEL,
      'a',
      'builtin',
      OVERFLOW_LABEL,
      'b',
    ]);
    expect(budget.size).toBe(2);
  });
});

/** A replica's metrics fed through its hooks, as the engine would: `n` runs of distinct workflows. */
function replica(
  labelValuesMax: number | undefined,
  gauges: ClusterGauges = { runsActive: 0, tasksInflight: 0, runsPaused: 0, signalsWaiting: 0, queueDepth: [], noWorker: [] },
) {
  const hooks = new EngineHooks();
  const metrics = createMetrics(
    hooks,
    { clusterGauges: async () => gauges, subscriptions: () => 0, pool: () => null, redisUp: async () => null },
    labelValuesMax === undefined ? {} : { labelValuesMax },
  );
  const runs = (names: string[]) => {
    for (const [i, workflow] of names.entries()) {
      const run = { tenantId: 'acme', runId: `r-${workflow}-${i}`, workflow, traceparent: null };
      hooks.emit('run:created', run);
      hooks.emit('run:finished', { ...run, status: i % 3 ? 'SUCCEEDED' : 'FAILED', error: null, durationMs: 1200 });
      hooks.emit('task:claimed', { ...run, taskId: `t-${i}`, key: 'a', attempt: 1, queue: `q-${workflow}`, workerId: 'w', waitedMs: 5 });
    }
  };
  return { metrics, runs, scrape: () => metrics.registry.metrics() };
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .map((line) => /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && m[1] === name)
    .map((m) => ({ labels: Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!])), value: Number(m[3]) }));
}

describe('tenant-chosen label values (issue #11 finding 6)', () => {
  it('300 new workflow names leave the scrape bounded; the totals stay right under __other__', async () => {
    const bounded = replica(undefined); // the default budget, 100
    bounded.runs(names('base', 10));
    const before = Buffer.byteLength(await bounded.scrape());
    bounded.runs(names('acme-secret', 300));
    const after = await bounded.scrape();

    const unbounded = replica(1_000_000); // what the conductor did before the budget
    unbounded.runs(names('base', 10));
    const unboundedBefore = Buffer.byteLength(await unbounded.scrape());
    unbounded.runs(names('acme-secret', 300));
    const unboundedAfter = Buffer.byteLength(await unbounded.scrape());

    const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
    console.log(
      `scrape after 300 new workflow names: ${kb(before)} → ${kb(Buffer.byteLength(after))} with the budget (100), ` +
        `${kb(unboundedBefore)} → ${kb(unboundedAfter)} without`,
    );
    // 100 names kept (10 + 90 of the new ones), the other 210 in one __other__ row per series.
    const started = samples(after, 'maestro_jobs_started_total');
    expect(started).toHaveLength(101);
    expect(started.find((s) => s.labels['workflow'] === OVERFLOW_LABEL)?.value).toBe(210);
    expect(started.reduce((sum, s) => sum + s.value, 0)).toBe(310);
    expect(after).not.toContain('acme-secret-299');
    // Bounded: at most the budget's worth of series per label (an unbounded scrape grew ~10×).
    expect(unboundedAfter).toBeGreaterThan(5 * unboundedBefore);
    // What one more name costs without the budget; with it, 90 names and one __other__ row were added.
    const perName = (unboundedAfter - unboundedBefore) / 300;
    expect(Buffer.byteLength(after) - before).toBeLessThanOrEqual(91 * perName * 1.05);
    // A further 1,000 names add nothing new.
    const size = Buffer.byteLength(after);
    bounded.runs(names('more', 1_000));
    expect(Buffer.byteLength(await bounded.scrape())).toBeLessThan(size * 1.02);
  });

  it('bounds queue names in maestro_queue_depth and the schedule latency; builtin always keeps its name', async () => {
    const queueDepth = [{ queue: 'builtin', depth: 4 }, ...names('q', 50).map((queue) => ({ queue, depth: 2 }))];
    const noWorker = names('q', 50).map((queue) => ({ queue, tasks: 1 }));
    const r = replica(10, { runsActive: 0, tasksInflight: 0, runsPaused: 0, signalsWaiting: 0, queueDepth, noWorker });
    const text = await r.scrape();
    // The same budget bounds the queues of maestro_queue_no_worker_tasks: the same 10 names, the rest __other__.
    const unserved = samples(text, 'maestro_queue_no_worker_tasks');
    expect(unserved).toHaveLength(11);
    expect(unserved.find((s) => s.labels['queue'] === OVERFLOW_LABEL)?.value).toBe(40);
    const depth = samples(text, 'maestro_queue_depth');
    expect(depth).toHaveLength(12); // builtin, 10 names, __other__
    expect(depth.find((s) => s.labels['queue'] === 'builtin')?.value).toBe(4);
    expect(depth.find((s) => s.labels['queue'] === OVERFLOW_LABEL)?.value).toBe(80);
    expect(depth.reduce((sum, s) => sum + s.value, 0)).toBe(104);
    r.runs(names('wf', 30));
    const latency = samples(await r.scrape(), 'maestro_schedule_latency_ms');
    // The 10 queue names of the budget are spent on the gauge's queues; the runs' queues are __other__.
    expect(new Set(latency.map((s) => s.labels['queue']))).toEqual(new Set([OVERFLOW_LABEL]));
  });
});
