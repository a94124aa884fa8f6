/** Measurement loops shared by the scenarios: drains, open-loop arrivals, serial probes. */
import type { BenchContext } from './harness';
import { summary } from './stats';
import type { Running, Submitted, System, Shape } from './systems';

/** Preloads `n` items, starts processing, and returns items finished per second. */
export async function drain(ctx: BenchContext, system: System, n: number, shape: Shape = 'single'): Promise<number> {
  const r = await system.open(ctx, shape);
  try {
    await r.preload(n);
    const t0 = performance.now();
    await r.go();
    await withProgress(ctx, r, n, system.name);
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await r.close();
  }
}

async function withProgress(ctx: BenchContext, r: Running, n: number, name: string): Promise<void> {
  let last = 0;
  const steps = [0.25, 0.5, 0.75];
  for (const f of steps) {
    await r.finishedCount(Math.ceil(n * f));
    if (performance.now() - last > 2000) {
      ctx.progress(`    ${name}: ${Math.round(f * 100)}% of ${n}`);
      last = performance.now();
    }
  }
  await r.finishedCount(n);
}

/**
 * Open loop: items arrive at `rate` per second for `seconds`, whatever the system's pace (a
 * closed loop would slow its arrivals down and hide queueing). Latencies in ms, submit → finish.
 */
export async function arrivals(r: Running, rate: number, seconds: number): Promise<number[]> {
  const total = Math.max(1, Math.round(rate * seconds));
  // By submission order, so callers can drop a warm-up head.
  const latencies: number[] = new Array<number>(total);
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((res) => setTimeout(res, wait));
    const sent = performance.now();
    pending.push(
      r.submit().then(async (s: Submitted) => {
        latencies[i] = (await s.finished) - sent;
      }),
    );
  }
  await Promise.all(pending);
  return latencies;
}

/**
 * The highest arrival rate whose p99 submit → finish stays under `p99Ms`: rates grow by half
 * from `start` until one misses (or `max` passes).
 */
export async function sustainedRate(
  ctx: BenchContext,
  system: System,
  opts: { start: number; max: number; seconds: number; p99Ms: number },
): Promise<{ rate: number; p99: number }> {
  const r = await system.open(ctx, 'single');
  try {
    await r.go();
    await arrivals(r, 20, 0.5); // warm-up: connections, JIT, prepared statements
    let best = { rate: 0, p99: NaN };
    for (let rate = opts.start; rate <= opts.max; rate = Math.round(rate * 1.5)) {
      // The first fifth of each step absorbs the change of pace (pools growing, JIT): not counted.
      const all = await arrivals(r, rate, opts.seconds);
      const { p99 } = summary(all.slice(Math.floor(all.length / 5)));
      ctx.progress(`    ${system.name}: ${rate}/s → p99 ${p99.toFixed(1)} ms`);
      if (p99 > opts.p99Ms) break;
      best = { rate, p99 };
    }
    return best;
  } finally {
    await r.close();
  }
}

/** One item at a time, `gapMs` apart: latencies (ms) from the submit's commit to pick-up and to finish. */
export async function serialProbes(r: Running, n: number, gapMs: number): Promise<{ pick: number[]; finish: number[] }> {
  const pick: number[] = [];
  const finish: number[] = [];
  for (let i = 0; i < n; i++) {
    const sent = performance.now();
    const s = await r.submit();
    // Picked before the client heard of its commit: the commit was earlier still, so 0 is the bound.
    pick.push(Math.max(0, (await s.picked) - s.at));
    finish.push((await s.finished) - sent);
    if (gapMs > 0) await new Promise((res) => setTimeout(res, gapMs));
  }
  return { pick, finish };
}
