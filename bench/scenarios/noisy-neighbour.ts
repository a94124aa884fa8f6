/**
 * Scenario 7: noisy neighbour, over the API. The conductor runs in a child process (its own
 * event loop, as in production); both tenants talk to it over HTTP and graphql-ws with their own
 * API keys, as clients would. Tenant A floods: thousands of runs whose one http step calls a
 * tarpit (a loopback listener that accepts and never answers: each step holds its slot until its
 * timeout), and meanwhile the heaviest alias-laden `runs` query the limits admit, over and over.
 * A ignores Retry-After (it comes back 50 ms after a 429). A's clients run in a process of their
 * own (bench/lib/flood.ts), as another tenant's would on another machine. Tenant B starts one-step noop runs one after another and waits for each one's terminal event on
 * its `runEvents` subscription. B's start-to-finish p99 under the flood should stay within 2× of
 * its quiet p99 (issue #11: before fair shares, 70 such runs kept B's run PENDING for over 20 s).
 *
 * Our side only: the peers have no tenants. Every byte goes to 127.0.0.1.
 */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Scenario } from '../lib/harness';
import type { Diag } from '../lib/bench-server';
import { forkServer } from '../lib/child';
import { Api, forkFlood } from '../lib/flood';
import { maestroSettings, NOISY_TENANT, QUIET_TENANT } from '../lib/maestro';
import { benchPrefix } from '../lib/services';
import { summary } from '../lib/stats';

/** B's p99 below this counts as this much: a 3 ms → 7 ms move is noise, not starvation. */
const FLOOR_MS = 20;
/** A's clients: startRun loops and heavy-query loops, each one request at a time. */
const FLOOD_STARTERS = Number(process.env['BENCH_NOISY_STARTERS'] ?? 8);
const FLOOD_READERS = Number(process.env['BENCH_NOISY_READERS'] ?? 4);
const GRAPHQL_MAX_ALIASES = 15;

/** A flooder does not honour Retry-After: it comes back this soon after a 429. */
const FLOOD_RETRY_MS = 50;

/** Tenant B's terminal events, by run id, from one `runEvents` subscription. */
function watchEnds(url: string, key: string): { client: Client; ready: Promise<void>; end(runId: string): Promise<number> } {
  const ended = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  const client = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, lazy: false });
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  client.on('connected', () => setTimeout(readyResolve, 50));
  client.subscribe<{ runEvents: { runId: string; type: string; status: string } }>(
    { query: 'subscription { runEvents(workflow: "one") { runId type status } }' },
    {
      next: ({ data }) => {
        const e = data?.runEvents;
        if (!e || e.type !== 'RUN_STATUS' || !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(e.status)) return;
        const at = performance.now();
        const w = waiting.get(e.runId);
        if (w) {
          waiting.delete(e.runId);
          w(at);
        } else ended.set(e.runId, at);
      },
      error: (e: unknown) => console.error('runEvents subscription failed', e),
      complete: () => undefined,
    },
  );
  return {
    client,
    ready,
    end(runId) {
      const at = ended.get(runId);
      if (at !== undefined) {
        ended.delete(runId);
        return Promise.resolve(at);
      }
      return new Promise((resolve) => waiting.set(runId, resolve));
    },
  };
}

/** One of B's runs as its client saw it: its id, when startRun was sent (epoch ms), the answer's and the terminal event's delay. */
interface Probe {
  id: string;
  at: number;
  total: number;
  started: number;
}

/**
 * Where B's runs spent their time, from the server's milestones (Diag.quietRuns) and the client's
 * clock (one machine, one clock): the request until its start committed, until its task was
 * claimed, executed, the run finished, and its terminal event reached the client.
 */
function segments(ps: readonly Probe[], x: Diag): string {
  const steps = [
    ['start', (p: Probe, m: Diag['quietRuns'][string]) => [p.at, m.created]],
    ['claim', (_p: Probe, m: Diag['quietRuns'][string]) => [m.created, m.claimed]],
    ['execute+commit', (_p: Probe, m: Diag['quietRuns'][string]) => [m.claimed, m.finished]],
    ['event', (p: Probe, m: Diag['quietRuns'][string]) => [m.finished, p.at + p.total]],
  ] as const;
  return steps
    .map(([name, span]) => {
      const ms = ps.flatMap((p) => {
        const m = x.quietRuns[p.id];
        const [from, to] = m ? span(p, m) : [undefined, undefined];
        return from === undefined || to === undefined ? [] : [to - from];
      });
      const s = summary(ms.length ? ms : [0]);
      return `${name} ${s.p50.toFixed(1)}/${s.p99.toFixed(1)}`;
    })
    .join(', ');
}

/** The heaviest read: `n` aliases of a page of 100 runs with their tasks and events. */
function heavyQuery(n: number): string {
  const page = 'runs(first: 100) { nodes { id status input output tasks { key status output } events { seq type } } }';
  return `query Heavy { ${Array.from({ length: n }, (_, i) => `a${i}: ${page}`).join(' ')} }`;
}

/** The most aliases of `heavyQuery` the conductor's limits admit (at least 1: one page is always allowed). */
async function heaviestAdmitted(api: Api): Promise<number> {
  for (let n = GRAPHQL_MAX_ALIASES; n > 1; n--) {
    const json = await api.post(heavyQuery(n));
    if (!json.errors) return n;
  }
  return 1;
}

export const noisyNeighbour: Scenario = {
  id: '7',
  title: 'Noisy neighbour over the API (tenant B one-step runs while tenant A floods tarpit http steps and heavy queries)',
  metrics: [
    { key: 'quietP99', label: 'B quiet p99', unit: 'ms', better: 'lower' },
    { key: 'floodP99', label: 'B under flood p99', unit: 'ms', better: 'lower' },
    { key: 'ratio', label: 'flood / quiet p99', unit: '×', better: 'lower' },
    { key: 'quietP50', label: 'B quiet p50', unit: 'ms', better: 'lower' },
    { key: 'floodP50', label: 'B under flood p50', unit: 'ms', better: 'lower' },
    { key: 'floodRuns', label: 'A runs started', unit: 'runs', better: 'higher' },
    { key: 'heavyQueries', label: 'A heavy queries answered', unit: 'queries', better: 'higher' },
    { key: 'tarpitHeld', label: 'A tarpit connections held', unit: 'conns', better: 'lower' },
  ],
  sides: (ctx) => [
    {
      name: 'maestro',
      role: 'ours',
      settings: {
        ...maestroSettings(),
        transport: "HTTP startRun + graphql-ws runEvents, an API key per tenant; server and A's clients each in a child process",
        tarpitStepTimeoutMs: 300_000,
        floodRuns: ctx.scale(3000, 600),
        floodStarters: FLOOD_STARTERS,
        floodReaders: FLOOD_READERS,
      },
      async sample() {
        const sockets = new Set<Socket>();
        const tarpit = createServer((socket) => {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => undefined);
        });
        tarpit.listen(0, '127.0.0.1');
        await once(tarpit, 'listening');
        const tarpitUrl = `http://127.0.0.1:${(tarpit.address() as { port: number }).port}/`;
        // Grace 0: the flood's steps are given back at close, not waited for.
        const server = await forkServer({
          mode: 'noisy',
          postgresUrl: ctx.postgresUrl,
          redisUrl: ctx.redisUrl,
          redisKeyPrefix: benchPrefix('noisy'),
          // BENCH_NOISY_ENV: conductor settings to try, as JSON ({"RATE_LIMIT_COST_PER_TENANT": "2000"}).
          env: { SHUTDOWN_GRACE_MS: '0', ...(JSON.parse(process.env['BENCH_NOISY_ENV'] ?? '{}') as Record<string, string>) },
          tarpitUrl,
        });
        const a = new Api(server.url, server.keys[NOISY_TENANT]!, FLOOD_RETRY_MS);
        const b = new Api(server.url, server.keys[QUIET_TENANT]!);
        const ends = watchEnds(server.url, server.keys[QUIET_TENANT]!);
        try {
          await ends.ready;
          // Start-to-finish as B sees it: startRun sent → its terminal event received.
          const probe = async (): Promise<Probe> => {
            const t0 = performance.now();
            const id = await b.start('one');
            const started = performance.now() - t0;
            return { id, at: performance.timeOrigin + t0, total: (await ends.end(id)) - t0, started };
          };
          const probes = async (n: number): Promise<Probe[]> => {
            const out: Probe[] = [];
            for (let i = 0; i < n; i++) out.push(await probe());
            return out;
          };
          const n = ctx.scale(300, 60);
          await probes(20); // warm-up
          await server.diag();
          const quietProbes = await probes(n);
          const quietDiag = await server.diag();
          const quiet = summary(quietProbes.map((p) => p.total));

          const aliases = await heaviestAdmitted(a);
          const floodRuns = ctx.scale(3000, 600);
          // A's clients in a process of their own (bench/lib/flood.ts): B's probes time the
          // conductor, not the flooder's event loop.
          const flood = forkFlood({
            url: server.url,
            key: server.keys[NOISY_TENANT]!,
            workflow: 'tarpit',
            runs: floodRuns,
            starters: FLOOD_STARTERS,
            readers: FLOOD_READERS,
            query: heavyQuery(aliases),
            retryMs: FLOOD_RETRY_MS,
          });
          // B probes while A's runs pour in, and after: A holds its http share the whole time and
          // keeps reading.
          let during: Probe[] = [];
          let duringDiag: Diag;
          try {
            // B probes once A's clients are sending, not while the child process still loads.
            await flood.flooding;
            during = await probes(Math.floor(n / 2));
            duringDiag = await server.diag();
            await flood.started;
          } catch (e: unknown) {
            flood.kill();
            throw e;
          }
          const after = await probes(Math.ceil(n / 2));
          const afterDiag = await server.diag();
          const { runs, reads } = await flood.stop();
          const loaded = summary([...during, ...after].map((p) => p.total));
          const [whileStarting, whileHeld] = [summary(during.map((p) => p.total)), summary(after.map((p) => p.total))];
          const startCall = (ps: { started: number }[]) => summary(ps.map((p) => p.started));
          const ratio = Math.max(loaded.p99, FLOOR_MS) / Math.max(quiet.p99, FLOOR_MS);
          const d = (x: Diag, ps: Probe[]) =>
            `loop p99 ${x.loopP99Ms.toFixed(0)} ms max ${x.loopMaxMs.toFixed(0)} ms busy ${(x.loopBusy * 100).toFixed(0)}%, CPU ${(x.cpu * 100).toFixed(0)}%` +
            `${x.cpuWait === null ? '' : ` (waiting for a CPU ${(x.cpuWait * 100).toFixed(0)}% of the time)`}, pool waiting max ${x.poolWaitingMax} mean ${x.poolWaitingMean.toFixed(1)}, ` +
            `A holds ${x.noisyHolding.http} http, ${x.inflight} in flight\n      B's runs, p50/p99 ms: ${segments(ps, x)}`;
          ctx.progress(
            `noisy neighbour: B p99 quiet ${quiet.p99.toFixed(1)} ms, under flood ${loaded.p99.toFixed(1)} ms ` +
              `(${ratio.toFixed(2)}× with a ${FLOOR_MS} ms floor: ${ratio <= 2 ? 'within' : 'NOT within'} 2×); quiet p50 ${quiet.p50.toFixed(1)} ms, flood p50 ${loaded.p50.toFixed(1)} ms\n` +
              `    A: ${runs.ok} runs started (${runs.rateLimited} rate-limited, ${runs.refused} refused), ${reads.ok} heavy queries of ${aliases} aliases answered ` +
              `(${reads.rateLimited} rate-limited, ${reads.refused} refused, ${reads.failed} 5xx), ${sockets.size} tarpit connections held\n` +
              `    B p99 while A's starts pour in ${whileStarting.p99.toFixed(1)} ms (startRun answered p99 ${startCall(during).p99.toFixed(1)} ms), ` +
              `while A's steps hang ${whileHeld.p99.toFixed(1)} ms (startRun p99 ${startCall(after).p99.toFixed(1)} ms); quiet startRun p99 ${startCall(quietProbes).p99.toFixed(1)} ms\n` +
              `    server quiet: ${d(quietDiag, quietProbes)}\n    server while starts pour in: ${d(duringDiag, during)}\n    server while steps hang: ${d(afterDiag, after)}`,
          );
          return {
            quietP99: quiet.p99,
            floodP99: loaded.p99,
            ratio,
            quietP50: quiet.p50,
            floodP50: loaded.p50,
            floodRuns: runs.ok,
            heavyQueries: reads.ok,
            tarpitHeld: sockets.size,
          };
        } finally {
          await ends.client.dispose();
          await server.stop();
          for (const s of sockets) s.destroy();
          tarpit.close();
        }
      },
    },
  ],
};
