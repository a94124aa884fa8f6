/**
 * Scenario 7: noisy neighbour. Tenant A floods the conductor with runs whose one http step calls a
 * tarpit (a loopback listener that accepts and never answers: each step holds its slot until its
 * timeout), thousands of them; tenant B meanwhile starts one-step noop runs one after another. B's
 * start-to-finish p99 under the flood should stay within 2× of its quiet p99 (issue #11: before
 * fair shares, 70 such runs kept B's run PENDING for over 20 s).
 *
 * Our side only: the peers have no tenants. Every byte goes to 127.0.0.1.
 */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { Scenario } from '../lib/harness';
import { maestroSettings, startMaestro } from '../lib/maestro';
import { pool, summary } from '../lib/stats';

const NOISY = 'tenant-noisy';
const QUIET = 'tenant-quiet';
/** B's p99 below this counts as this much: a 3 ms → 7 ms move is noise, not starvation. */
const FLOOR_MS = 20;

export const noisyNeighbour: Scenario = {
  id: '7',
  title: 'Noisy neighbour (tenant B one-step runs while tenant A floods tarpit http steps)',
  metrics: [
    { key: 'quietP99', label: 'B quiet p99', unit: 'ms', better: 'lower' },
    { key: 'floodP99', label: 'B under flood p99', unit: 'ms', better: 'lower' },
    { key: 'ratio', label: 'flood / quiet p99', unit: '×', better: 'lower' },
    { key: 'floodRuns', label: 'A runs started', unit: 'runs', better: 'higher' },
    { key: 'tarpitHeld', label: 'A tarpit connections held', unit: 'conns', better: 'lower' },
  ],
  sides: (ctx) => [
    {
      name: 'maestro',
      role: 'ours',
      settings: { ...maestroSettings(), tarpitStepTimeoutMs: 300_000, floodRuns: ctx.scale(3000, 600) },
      async sample() {
        const sockets = new Set<Socket>();
        const tarpit = createServer((socket) => {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => undefined);
        });
        tarpit.listen(0, '127.0.0.1');
        await once(tarpit, 'listening');
        const port = (tarpit.address() as { port: number }).port;
        // Grace 0: the flood's steps are given back at close, not waited for.
        const m = await startMaestro(ctx, { env: { SHUTDOWN_GRACE_MS: '0' } });
        try {
          const { workflows, runs } = m.app.services;
          await workflows.register(NOISY, {
            name: 'tarpit',
            steps: [{ key: 'call', type: 'http', input: { url: `http://127.0.0.1:${port}/` }, timeoutMs: 300_000, retry: { maxAttempts: 1 } }],
          });
          await workflows.register(QUIET, { name: 'one', steps: [{ key: 'a', type: 'noop' }] });
          const probe = async (): Promise<number> => {
            const t0 = performance.now();
            const id = (await runs.start(QUIET, { workflow: 'one' })).id;
            return (await m.finished(id)).at - t0;
          };
          const probes = async (n: number): Promise<number[]> => {
            const out: number[] = [];
            for (let i = 0; i < n; i++) out.push(await probe());
            return out;
          };
          const n = ctx.scale(300, 60);
          await probes(20); // warm-up
          const quiet = summary(await probes(n));

          const floodRuns = ctx.scale(3000, 600);
          let started = 0;
          const flood = pool(
            Array.from({ length: floodRuns }, (_, i) => i),
            8,
            async () => {
              await runs.start(NOISY, { workflow: 'tarpit' });
              started++;
            },
          );
          // B probes while A's runs pour in, and after: A holds its http share the whole time.
          const during = await probes(Math.floor(n / 2));
          await flood;
          const after = await probes(Math.ceil(n / 2));
          const loaded = summary([...during, ...after]);
          const [whileStarting, whileHeld] = [summary(during), summary(after)];
          const ratio = Math.max(loaded.p99, FLOOR_MS) / Math.max(quiet.p99, FLOOR_MS);
          const holding = m.app.scheduler.tenantHolding(NOISY);
          ctx.progress(
            `noisy neighbour: B p99 quiet ${quiet.p99.toFixed(1)} ms, under flood ${loaded.p99.toFixed(1)} ms ` +
              `(${ratio.toFixed(2)}× with a ${FLOOR_MS} ms floor: ${ratio <= 2 ? 'within' : 'NOT within'} 2×); ` +
              `A started ${started} runs, holds ${holding.http} http steps, ${sockets.size} tarpit connections; ` +
              `B p99 while A's starts pour in ${whileStarting.p99.toFixed(1)} ms, while A's steps hang ${whileHeld.p99.toFixed(1)} ms; quiet p50 ${quiet.p50.toFixed(1)} ms`,
          );
          return { quietP99: quiet.p99, floodP99: loaded.p99, ratio, floodRuns: started, tarpitHeld: sockets.size };
        } finally {
          await m.close();
          for (const s of sockets) s.destroy();
          tarpit.close();
        }
      },
    },
  ],
};
