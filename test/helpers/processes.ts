import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

/** Conductor and worker processes for fault tests (kill -9, SIGSTOP, a skewed clock). */

export const ROOT = join(__dirname, '..', '..');
export const ECHO_HANDLER = 'src/worker-sdk/examples/echo.ts';

export interface LogLine {
  msg: string;
  taskId?: string;
  runId?: string;
  code?: string;
  during?: string;
  [key: string]: unknown;
}

export interface Proc {
  child: ChildProcess;
  /** JSON log lines so far (stdout). */
  lines(): LogLine[];
  /** Everything it printed (tail). */
  output(): string;
  exited: Promise<number | null>;
  /**
   * Sends `signal` to the node process itself: under `faketime` that is the wrapper's child (the
   * wrapper forks, runs the program and waits), so a SIGSTOP to the wrapper would freeze nothing.
   */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL (after SIGCONT, should it be stopped); resolves on exit. */
  kill(): Promise<void>;
}

function track(child: ChildProcess, wrapped = false): Proc {
  const target = (): number => {
    if (!wrapped) return child.pid!;
    const children = execFileSync('pgrep', ['-P', String(child.pid)])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
    if (children.length !== 1) throw new Error(`expected one child of the faketime wrapper ${child.pid}, found ${children.length}`);
    return Number(children[0]);
  };
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-500_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    output: () => out,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as LogLine;
          } catch {
            return { msg: '(unparsable)' };
          }
        }),
    exited,
    signal(signal) {
      process.kill(target(), signal);
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        if (wrapped) process.kill(target(), 'SIGKILL');
      } catch {
        // gone already
      }
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A worker process (the `worker` command) running the echo handler; `faketime`: e.g. '+30s' runs it under libfaketime. */
export function startWorkerProcess(o: {
  url: string;
  apiKey?: string;
  id: string;
  queue: string;
  concurrency?: number;
  leaseMs?: number;
  faketime?: string;
  logLevel?: string;
}): Proc {
  const node = [process.execPath, '-r', '@swc-node/register', 'src/worker-sdk/cli.ts'];
  const args = ['--queue', o.queue, '--handler', ECHO_HANDLER, '--concurrency', String(o.concurrency ?? 1), '--worker-id', o.id];
  const [cmd, ...rest] = o.faketime ? ['faketime', '-f', o.faketime, ...node, ...args] : [...node, ...args];
  const child = spawn(cmd!, rest, {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      MAESTRO_URL: o.url,
      ...(o.apiKey ? { MAESTRO_API_KEY: o.apiKey } : {}),
      ...(o.leaseMs ? { WORKER_LEASE_MS: String(o.leaseMs) } : {}),
      WORKER_GRACE_MS: '2000',
      LOG_LEVEL: o.logLevel ?? 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(child, Boolean(o.faketime));
}

/** A conductor process (`src/server.ts`) with the given environment. */
export function startConductorProcess(env: Record<string, string | undefined>): Proc {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(child);
}

/** Polls `check` every 20 ms until it returns something truthy; fails naming `what` past the deadline. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
