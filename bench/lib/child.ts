/** Runs bench/lib/bench-server.ts in a child process and talks to it over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Diag, FromChild, ServerOptions, ToChild } from './bench-server';
import { nextMessage } from './ipc';

export interface ChildServer {
  url: string;
  /** The seeded run (scenario 5), or null. */
  runId: string | null;
  /** Mode `noisy`: an API key per tenant. */
  keys: Record<string, string>;
  /** The child's CPU time so far (user + system, µs), then its heap and RSS in bytes (after a full GC with `gc`). */
  stats(gc?: boolean): Promise<{ heapUsed: number; rss: number; cpuMicros: number }>;
  /** Mode `noisy`: where the server's time went since the last reading. */
  diag(): Promise<Diag>;
  /** Tears the server down (databases dropped) and waits for the child to exit; kills it after 15 s. */
  stop(): Promise<void>;
}

export async function forkServer(opts: ServerOptions): Promise<ChildServer> {
  const child: ChildProcess = fork(join(__dirname, 'bench-server.ts'), [], {
    // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the server side, written when it stops.
    // BENCH_SERVER_FLAGS: more Node/V8 flags for the server side ("--trace-gc --max-semi-space-size=64").
    execArgv: [
      '-r',
      '@swc-node/register',
      '--expose-gc',
      ...(process.env['BENCH_SERVER_FLAGS'] ? process.env['BENCH_SERVER_FLAGS'].split(' ') : []),
      ...(process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : []),
    ],
    // NODE_ENV=production for the libraries, as the image runs them (graphql-js checks every
    // `instanceof` the slow way outside production: 4 % of a heavy read's CPU). The conductor's
    // own settings come from its config (startMaestro), not from this.
    env: { ...process.env, NODE_ENV: 'production', BENCH_SERVER: JSON.stringify(opts) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = <T extends FromChild['type']>(type: T) => nextMessage<FromChild, T>(child, `bench server (${opts.mode})`, type);
  const tell = (m: ToChild) => child.send(m);

  let ready: Extract<FromChild, { type: 'ready' }>;
  try {
    ready = await next('ready');
  } catch (e: unknown) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    url: ready.url,
    runId: ready.runId,
    keys: ready.keys ?? {},
    async stats(gc = false) {
      const answer = next('stats');
      tell({ type: 'stats', gc });
      const { heapUsed, rss, cpuMicros } = await answer;
      return { heapUsed, rss, cpuMicros };
    },
    async diag() {
      const answer = next('diag');
      tell({ type: 'diag' });
      return (await answer).diag;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      tell({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
