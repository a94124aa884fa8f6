/**
 * Maestro side by side with the queues users would pick instead, on this machine, in one run:
 *
 *   npm run bench                      all scenarios, 3 repeats (about half an hour on 2 cores)
 *   npm run bench -- --quick           every scenario briefly (CI runs this so the harness cannot rot)
 *   npm run bench -- --only 1,3        some scenarios
 *   npm run bench -- --repeats 5 --out bench/results/mine.json
 *
 * Needs Postgres and Redis: DATABASE_URL (a server URL; each side gets a database of its own) and
 * REDIS_URL, defaulting to the local services. Prints a markdown table of medians and ratios and
 * writes every sample and every side's settings as JSON.
 */
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { renderTable, runScenario, type BenchContext, type ScenarioResult } from './lib/harness';
import { environment, packageVersion } from './lib/services';
import { scenarios } from './scenarios';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      repeats: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const quick = values.quick ?? false;
  const repeats = Number(values.repeats ?? (quick ? 1 : 3));
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer (got ${values.repeats})`);
  const only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : null;
  const unknown = only ? [...only].filter((id) => !scenarios.some((s) => s.id === id)) : [];
  if (unknown.length) throw new Error(`--only: no scenario ${unknown.join(', ')} (there are ${scenarios.map((s) => s.id).join(', ')})`);
  const out = values.out ?? (quick ? 'bench/results/quick.json' : 'bench/results/latest.json');

  const started = Date.now();
  const ctx: BenchContext = {
    quick,
    postgresUrl: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    progress: (m) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}\n`),
    scale: (full, small) => (quick ? small : full),
  };
  const env = await environment(ctx.postgresUrl, ctx.redisUrl);
  ctx.progress(`${quick ? 'quick run' : 'full run'}, ${repeats} repeat(s); Postgres ${JSON.stringify(env['postgres'])}`);

  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    if (only && !only.has(scenario.id)) continue;
    results.push(await runScenario(scenario, ctx, repeats));
  }

  const table = renderTable(results);
  console.log(`\n${table}`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        quick,
        repeats,
        durationS: Math.round((Date.now() - started) / 1000),
        environment: env,
        versions: Object.fromEntries(
          ['graphile-worker', 'bullmq', 'pg', 'ioredis', 'graphql', 'graphql-http', 'graphql-ws', 'ws', '@apollo/server'].map((p) => [p, packageVersion(p)]),
        ),
        results,
        table,
      },
      null,
      2,
    )}\n`,
  );
  const md = out.replace(/\.json$/, '.md');
  writeFileSync(
    md,
    `# Benchmark run of ${new Date().toISOString().slice(0, 10)}\n\n${quick ? 'Quick run (harness check; the figures mean little). ' : ''}` +
      `${repeats} repeat(s), medians; ${JSON.stringify(env['machine'])}; Postgres ${JSON.stringify(env['postgres'])}; Redis ${JSON.stringify(env['redis'])}. ` +
      `Every sample and every side's settings: \`${out}\`. Reproduce with \`npm run bench\`.\n\n${table}`,
  );
  ctx.progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; figures in ${out} and ${md}`);
}

main().then(
  // Peers' pools and timers may linger; the report is written.
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
