/**
 * What logging and metrics cost the engine, measured rather than guessed:
 *   npm run bench:observability [-- --runs 600]
 * Runs the same batch of one-step (noop) runs with logs silent, at info and at debug (every task
 * logged, scrubbed), alternating A/B/A/B, and times /metrics scrapes; first, what scrubbing costs
 * one log line (bench/lib/scrub-cost.ts). Uses DATABASE_URL/REDIS_URL when set, else the
 * embedded backends. Prints medians; absolute figures drift on a shared
 * machine, the ratios are the result.
 */
import 'reflect-metadata';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createApp, type App } from '../src/app';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/observability/logger';
import { formatScrubCost, measureScrubCost } from './lib/scrub-cost';
import { createBenchDatabase } from './lib/services';
import { median } from './lib/stats';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '600' }, repeats: { type: 'string', default: '3' } } });
const RUNS = Number(values.runs);
const REPEATS = Number(values.repeats);

async function gql(app: App, query: string): Promise<any> {
  const res = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return ((await res.json()) as { data: unknown }).data;
}

async function runsPerSecond(app: App, workflow: string): Promise<number> {
  let finished = 0;
  const done = new Promise<void>((resolve) =>
    app.hooks.on('run:finished', () => {
      if (++finished === RUNS) resolve();
    }),
  );
  const started = performance.now();
  for (let i = 0; i < RUNS; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, RUNS - i) }, () => gql(app, `mutation { startRun(workflow: "${workflow}") { id } }`)));
  }
  await done;
  return RUNS / ((performance.now() - started) / 1000);
}

/** A database of its own on the DATABASE_URL server, or none: the app then embeds PGlite. */
async function sampleDatabase(): Promise<{ url: string | undefined; drop(): Promise<void> }> {
  const server = process.env['DATABASE_URL'];
  return server ? createBenchDatabase(server) : { url: undefined, drop: async () => undefined };
}

async function main(): Promise<void> {
  const scrubCost = formatScrubCost(measureScrubCost());
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb();
    },
  });
  const results: Record<string, number[]> = { silent: [], info: [], debug: [] };
  const scrapes: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    for (const level of ['silent', 'info', 'debug'] as const) {
      // A database of its own per sample: equal starting conditions, and nothing left behind.
      const db = await sampleDatabase();
      const config = loadConfig({
        ...(process.env as Record<string, string>),
        DATABASE_URL: db.url,
        PORT: '0',
        METRICS_PORT: '0',
        LOG_LEVEL: level,
        MAESTRO_DATA_DIR: 'memory://',
        REDIS_KEY_PREFIX: `bench-${process.pid}-${r}-${level}:`,
      });
      const app = await createApp(config, { logger: createLogger({ level, destination: sink }) });
      try {
        await gql(app, `mutation { registerWorkflow(input: { name: "bench-noop", steps: [{ key: "a", type: "noop", input: { n: 1 } }] }) { version } }`);
        results[level]!.push(await runsPerSecond(app, 'bench-noop'));
        for (let i = 0; i < 20; i++) {
          const t0 = performance.now();
          await (await fetch(app.metricsUrl)).text();
          scrapes.push(performance.now() - t0);
        }
      } finally {
        await app.stop();
        await db.drop();
      }
      process.stderr.write(`  repeat ${r + 1}/${REPEATS} ${level}: ${results[level]!.at(-1)!.toFixed(0)} runs/s\n`);
    }
  }
  const base = median(results['silent']!);
  console.log(`\nObservability cost, ${RUNS} one-step runs per sample, ${REPEATS} repeats (${process.env['DATABASE_URL'] ? 'Postgres' : 'embedded PGlite'}):`);
  for (const level of ['silent', 'info', 'debug'] as const) {
    const m = median(results[level]!);
    // debug logs every task (claimed/finished), info only runs (created/finished).
    console.log(`  logs ${level.padEnd(6)} ${m.toFixed(0).padStart(6)} runs/s  (${((m / base) * 100).toFixed(1)}% of silent)`);
  }
  console.log(`  log scrubbing: ${scrubCost}`);
  console.log(
    `  /metrics scrape: median ${median(scrapes).toFixed(1)} ms over ${scrapes.length} scrapes; ${(bytes / 1024 / 1024).toFixed(1)} MiB of logs written`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
