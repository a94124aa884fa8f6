import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './net';

/**
 * A Postgres cluster and a redis-server of a test's own, on free loopback ports, for outage
 * tests: the machine's shared services are never stopped. Postgres runs as user `postgres`
 * (`runuser`), trust auth, data in a temp dir; each is stopped and removed by `close()`, and, should
 * a test die before its afterAll, by an exit hook of this process.
 */

const run = promisify(execFile);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bin directory of a Postgres server installation, 15 first (the machine's version). */
function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => (a === '15' ? -1 : b === '15' ? 1 : Number(b) - Number(a)));
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why a private Postgres cannot be started here (null: it can). */
export function privatePostgresUnavailable(): string | null {
  if (!postgresBin()) return 'no Postgres server binaries under /usr/lib/postgresql/*/bin (initdb, pg_ctl)';
  if (process.getuid?.() !== 0) return 'starting a private Postgres needs root (to run initdb and pg_ctl as user postgres)';
  if (!hasCommand('runuser')) return 'runuser is missing';
  return null;
}

/** Why a private redis-server cannot be started here (null: it can). */
export function privateRedisUnavailable(): string | null {
  return hasCommand('redis-server') ? null : 'redis-server is not installed';
}

const cleanups = new Set<() => void>();
let hooked = false;
function onExit(cleanup: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of cleanups) {
        try {
          c();
        } catch {
          // best effort: the process is going away
        }
      }
    });
  }
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

async function waitForPort(port: number, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await pause(25);
  }
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly port: number;
  /** `pg_ctl stop -m immediate`: every connection dropped at once, no shutdown checkpoint (a crash). */
  stopImmediate(): Promise<void>;
  /** Starts the cluster again (after a stop); resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it (immediate) and removes its data directory. */
  close(): Promise<void>;
}

/** initdb + pg_ctl start of a new cluster in a temp dir, as user postgres, trust auth, on a free loopback port. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const reason = privatePostgresUnavailable();
  if (reason) throw new Error(`cannot start a private Postgres: ${reason}`);
  const bin = postgresBin()!;
  const dir = mkdtempSync(join(tmpdir(), 'maestro-pg-'));
  const data = join(dir, 'data');
  const pw = execFileSync('id', ['-u', 'postgres']).toString().trim();
  const gid = execFileSync('id', ['-g', 'postgres']).toString().trim();
  chownSync(dir, Number(pw), Number(gid));
  const port = await freePort();
  const asPostgres = (cmd: string, args: string[]) => run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { cwd: dir });
  const pgCtl = (args: string[]) => asPostgres('pg_ctl', ['-D', data, ...args]);
  // fsync off: a process crash (stop -m immediate) loses nothing the kernel has; synchronous_commit
  // stays on, or an acknowledged commit could vanish with the WAL writer's buffer.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100`;
  let running = false;
  const stopSync = () => {
    if (running) execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, 'stop', '-m', 'immediate'], { stdio: 'ignore' });
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  const unhook = onExit(stopSync);
  try {
    await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    const start = async () => {
      await pgCtl(['-o', options, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
      running = true;
      await waitForPort(port, 'the private Postgres');
    };
    await start();
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      async stopImmediate() {
        await pgCtl(['stop', '-m', 'immediate', '-w']);
        running = false;
      },
      start,
      async close() {
        unhook();
        if (running) await pgCtl(['stop', '-m', 'immediate', '-w']).catch(() => undefined);
        running = false;
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e: unknown) {
    unhook();
    try {
      stopSync();
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
    throw e;
  }
}

export interface PrivateRedis {
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
  /** Starts a fresh redis-server on the same port (empty: nothing is saved). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A redis-server on a free loopback port that saves nothing: a restart is also a flush. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const reason = privateRedisUnavailable();
  if (reason) throw new Error(`cannot start a private Redis: ${reason}`);
  const port = await freePort();
  let child: ChildProcess | null = null;
  const killSync = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const unhook = onExit(killSync);
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitForPort(port, 'the private redis-server');
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  };
  try {
    await start();
  } catch (e: unknown) {
    killSync();
    unhook();
    throw e;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    async close() {
      await kill();
      unhook();
    },
  };
}
