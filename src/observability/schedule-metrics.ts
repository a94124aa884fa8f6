import client, { type Registry } from 'prom-client';
import type { EngineHooks } from '../domain/hooks';

/** The `source` label's values. */
const SCHEDULE_SOURCES = ['CRON', 'TRIGGER', 'BACKFILL'] as const;

/** Fire lag: a pass on time starts a fire within milliseconds; a poll-interval wake-up within seconds; beyond a minute is an outage. */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Schedules: fires by source, fire lag, overlap skips, catch-up misses, and how far off the
 * soonest fire time is. No tenant label (a tenant's schedules are unbounded); `source` has three
 * values.
 */
export function registerScheduleMetrics(
  registry: Registry,
  hooks: EngineHooks,
  /** Seconds until the soonest fire time of any schedule (negative: overdue); null when none. Cached by the caller. */
  secondsUntilNextFire: () => Promise<number | null>,
): void {
  const fired = new client.Counter({
    name: 'maestro_schedule_fires_total',
    help: 'Schedule fires whose run started, by source (CRON, TRIGGER, BACKFILL).',
    labelNames: ['source'],
    registers: [registry],
  });
  const failed = new client.Counter({
    name: 'maestro_schedule_fires_failed_total',
    help: 'Schedule fires whose start was refused (workflow gone, quota, input), by source.',
    labelNames: ['source'],
    registers: [registry],
  });
  const lag = new client.Histogram({
    name: 'maestro_schedule_fire_lag_seconds',
    help: 'From a cron fire time to its run starting.',
    buckets: LAG_BUCKETS,
    registers: [registry],
  });
  const skipped = new client.Counter({
    name: 'maestro_schedule_overlap_skipped_total',
    help: 'Fire times skipped by an overlap policy (SKIP, or BUFFER_ONE with one fire buffered already).',
    registers: [registry],
  });
  const missed = new client.Counter({
    name: 'maestro_schedule_missed_total',
    help: 'Fire times older than their catch-up window when a scheduler came to them (no replica ran): not fired.',
    registers: [registry],
  });
  new client.Gauge({
    name: 'maestro_schedule_next_fire_seconds',
    help: 'Seconds until the soonest fire time of any unpaused schedule, cluster-wide (negative: overdue; every replica reports the same: use min).',
    registers: [registry],
    async collect() {
      const s = await secondsUntilNextFire();
      if (s !== null) this.set(s);
      else this.reset();
    },
  });
  // Every source from the start, at 0: rate() has a series before the first fire.
  for (const source of SCHEDULE_SOURCES) {
    fired.inc({ source }, 0);
    failed.inc({ source }, 0);
  }
  hooks.on('schedule:fired', (e) => {
    fired.inc({ source: e.source });
    if (e.source === 'CRON') lag.observe(Math.max(0, e.lagMs) / 1_000);
  });
  hooks.on('schedule:failed', (e) => failed.inc({ source: e.source }));
  hooks.on('schedule:skipped', (e) => skipped.inc(e.count));
  hooks.on('schedule:missed', (e) => missed.inc(e.count));
}
