/**
 * The server side of scenarios 5 and 6, in a child process of its own so that its CPU and memory
 * are its own: the load generator (autocannon, 1,000 WebSocket clients) and the publisher stay
 * in the bench process. Started by `forkServer` (bench/lib/child.ts) with one of these modes:
 *
 *   maestro       our conductor (Apollo + express + graphql-ws), as startMaestro builds it
 *   graphql-http  the same conductor, and beside it a bare graphql-http handler on a plain node
 *                 http server over the same schema, services and context (createContext)
 *   raw-ws        a `ws` server that subscribes to the conductor's Redis events channel and
 *                 forwards every message as is to every connected socket
 *   noisy         our conductor with two tenants (scenario 7): an API key each, tenant A's
 *                 workflow of one http step to the parent's tarpit, tenant B's one noop step
 *
 * Protocol over IPC: the child sends `ready` (its URL, and what the mode seeded); the parent asks
 * `stats` (CPU time so far; heap and RSS after a full GC) and `stop` (the child tears down and exits).
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { createHandler } from 'graphql-http/lib/use/http';
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import type { App } from '../../src/app';
import { createContext } from '../../src/graphql/context';
import { buildMaestroSchema } from '../../src/graphql/schema';
import type { BenchContext } from './harness';
import { NOISY_TENANT, QUIET_TENANT, startMaestro, TENANT } from './maestro';

export type ServerMode = 'maestro' | 'graphql-http' | 'raw-ws' | 'noisy';

export interface ServerOptions {
  mode: ServerMode;
  postgresUrl: string;
  redisUrl: string;
  /** The Redis key prefix of the conductor (its events channel is `${prefix}events`). */
  redisKeyPrefix: string;
  /** Register a workflow of this many noop steps and finish one run of it (scenario 5). */
  seedSteps?: number;
  /** Conductor settings over the bench defaults (startMaestro's). */
  env?: Record<string, string>;
  /** Mode `noisy`: the URL tenant A's http step calls (a listener that never answers). */
  tarpitUrl?: string;
}

/**
 * Mode `noisy`: where the server's time went since the last `diag` (each reading restarts the
 * counts): event-loop delay, the database pool's waiting clients (sampled every 20 ms), and what
 * the noisy tenant holds of the executors now.
 */
export interface Diag {
  loopP99Ms: number;
  loopMaxMs: number;
  /** Share of the time the event loop was busy (event loop utilization), 0–1. */
  loopBusy: number;
  /** The server process's CPU time over wall time (1 = one core). */
  cpu: number;
  poolWaitingMax: number;
  poolWaitingMean: number;
  noisyHolding: { total: number; http: number };
  inflight: number;
  /**
   * Share of the time the server's main thread was ready to run but waited for a CPU (Linux
   * schedstat; null elsewhere): the machine's own contention, which no code of ours removes.
   */
  cpuWait: number | null;
  /** The quiet tenant's runs: when (epoch ms) the server committed each one's start, claimed its task, finished the task, finished the run. */
  quietRuns: Record<string, Partial<Record<Milestone, number>>>;
}

export type Milestone = 'created' | 'claimed' | 'taskDone' | 'finished';

/** `stats` with `gc`: heap and RSS after a full GC (the GC's own CPU is counted after the reading). */
export type ToChild = { type: 'stats'; gc: boolean } | { type: 'diag' } | { type: 'stop' };
export type FromChild =
  | { type: 'ready'; url: string; runId: string | null; keys?: Record<string, string> }
  | { type: 'diag'; diag: Diag }
  | { type: 'stats'; heapUsed: number; rss: number; cpuMicros: number }
  | { type: 'error'; message: string };

function send(message: FromChild): void {
  process.send!(message);
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.env['BENCH_SERVER'] ?? '') as ServerOptions;
  const ctx: BenchContext = {
    quick: false,
    postgresUrl: opts.postgresUrl,
    redisUrl: opts.redisUrl,
    progress: () => undefined,
    scale: (full) => full,
  };
  let close: () => Promise<void>;
  let url: string;
  let runId: string | null = null;
  let keys: Record<string, string> | undefined;
  let diag: (() => Diag) | undefined;

  if (opts.mode === 'raw-ws') {
    const server = createServer();
    const wss = new WebSocketServer({ server });
    const sub = new Redis(opts.redisUrl, { lazyConnect: true });
    await sub.connect();
    // The message as Redis delivered it (a Buffer), to every socket: one serialisation, N sends.
    sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
      for (const socket of wss.clients) if (socket.readyState === 1) socket.send(message, { binary: false });
    });
    await sub.subscribe(`${opts.redisKeyPrefix}events`);
    url = `ws://127.0.0.1:${await listen(server)}/`;
    close = async () => {
      sub.disconnect();
      for (const socket of wss.clients) (socket as WebSocket).terminate();
      await new Promise((r) => wss.close(r));
      await new Promise((r) => server.close(r));
    };
  } else {
    const m = await startMaestro(ctx, { env: { REDIS_KEY_PREFIX: opts.redisKeyPrefix, ...opts.env } });
    url = m.app.url;
    if (opts.mode === 'noisy') {
      const { workflows, auth } = m.app.services;
      await workflows.register(NOISY_TENANT, {
        name: 'tarpit',
        steps: [{ key: 'call', type: 'http', input: { url: opts.tarpitUrl! }, timeoutMs: 300_000, retry: { maxAttempts: 1 } }],
      });
      await workflows.register(QUIET_TENANT, { name: 'one', steps: [{ key: 'a', type: 'noop' }] });
      keys = { [NOISY_TENANT]: (await auth.createKey(NOISY_TENANT)).key, [QUIET_TENANT]: (await auth.createKey(QUIET_TENANT)).key };
      diag = watchServer(m.app);
    }
    if (opts.seedSteps) {
      await m.register({
        name: 'bench-read',
        steps: Array.from({ length: opts.seedSteps }, (_, i) => ({ key: `s${i + 1}`, type: 'noop', input: { step: i + 1, note: 'a small output' } })),
      });
      runId = await m.start('bench-read');
      const end = await m.finished(runId);
      if (end.status !== 'SUCCEEDED') throw new Error(`seed run ended ${end.status}`);
    }
    let bare: Server | null = null;
    if (opts.mode === 'graphql-http') {
      const schema = await buildMaestroSchema();
      const services = m.app.services;
      const handler = createHandler({ schema, context: () => ({ ...createContext(services, TENANT) }) });
      bare = createServer((req, res) => {
        handler(req, res).catch((e: unknown) => {
          res.writeHead(500).end(String(e));
        });
      });
      url = `http://127.0.0.1:${await listen(bare)}/graphql`;
    }
    close = async () => {
      if (bare) {
        bare.closeAllConnections();
        await new Promise((r) => bare!.close(r));
      }
      await m.close();
    };
  }

  process.on('message', (message: ToChild) => {
    if (message.type === 'stats') {
      const cpu = process.cpuUsage();
      if (message.gc) {
        // Twice: the first pass may leave finalisable garbage to the second.
        global.gc?.();
        global.gc?.();
        // BENCH_HEAP_SNAPSHOT=<dir>: a heap snapshot at each reading, to diff (memory per subscriber).
        if (process.env['BENCH_HEAP_SNAPSHOT']) writeHeapSnapshot(join(process.env['BENCH_HEAP_SNAPSHOT'], `${opts.mode}-${Date.now()}.heapsnapshot`));
      }
      const mem = process.memoryUsage();
      send({ type: 'stats', heapUsed: mem.heapUsed, rss: mem.rss, cpuMicros: cpu.user + cpu.system });
    } else if (message.type === 'diag') {
      if (diag) send({ type: 'diag', diag: diag() });
      else send({ type: 'error', message: `no diag in mode ${opts.mode}` });
    } else if (message.type === 'stop') {
      close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    }
  });
  send({ type: 'ready', url, runId, keys });
}

function watchServer(app: App): () => Diag {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let samples = 0;
  let waitingSum = 0;
  let waitingMax = 0;
  let elu = performance.eventLoopUtilization();
  let cpu = process.cpuUsage();
  let since = performance.now();
  let waited = mainThreadWaitNs();
  let quietRuns: Diag['quietRuns'] = {};
  const at = (runId: string, tenantId: string, milestone: Milestone) => {
    if (tenantId === QUIET_TENANT) (quietRuns[runId] ??= {})[milestone] ??= performance.timeOrigin + performance.now();
  };
  app.hooks.on('run:created', (e) => at(e.runId, e.tenantId, 'created'));
  app.hooks.on('task:claimed', (e) => at(e.runId, e.tenantId, 'claimed'));
  app.hooks.on('task:finished', (e) => at(e.runId, e.tenantId, 'taskDone'));
  app.hooks.on('run:finished', (e) => at(e.runId, e.tenantId, 'finished'));
  const timer = setInterval(() => {
    const waiting = app.db.poolStats()?.waiting ?? 0;
    samples++;
    waitingSum += waiting;
    waitingMax = Math.max(waitingMax, waiting);
  }, 20);
  timer.unref();
  return () => {
    const wall = performance.now() - since;
    const waitedNow = mainThreadWaitNs();
    const d: Diag = {
      loopP99Ms: loop.percentile(99) / 1e6,
      loopMaxMs: loop.max / 1e6,
      loopBusy: performance.eventLoopUtilization(elu).utilization,
      cpu: ((c) => (c.user + c.system) / 1e3 / (performance.now() - since))(process.cpuUsage(cpu)),
      poolWaitingMax: waitingMax,
      poolWaitingMean: samples ? waitingSum / samples : 0,
      noisyHolding: app.scheduler.tenantHolding(NOISY_TENANT),
      inflight: app.scheduler.inflightCount,
      cpuWait: waited !== null && waitedNow !== null ? (waitedNow - waited) / 1e6 / wall : null,
      quietRuns,
    };
    quietRuns = {};
    waited = waitedNow;
    loop.reset();
    elu = performance.eventLoopUtilization();
    cpu = process.cpuUsage();
    since = performance.now();
    samples = waitingSum = waitingMax = 0;
    return d;
  };
}

/** Nanoseconds the main thread has waited on a run queue (/proc/self/schedstat, Linux), or null. */
function mainThreadWaitNs(): number | null {
  try {
    return Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1]);
  } catch {
    return null;
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

main().catch((e: unknown) => {
  send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
});
