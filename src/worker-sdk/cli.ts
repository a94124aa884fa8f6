/**
 * The `worker` command: a remote worker in one line.
 *
 * ```sh
 * npm run worker -- --queue images --handler ./handlers/resize.ts [--url http://localhost:4000/graphql]
 *                   [--concurrency 8] [--api-key mk_…] [--lease-ms 30000] [--grace-ms 10000] [--worker-id …]
 * node dist/src/worker-sdk/cli.js --queue images --handler ./handlers/resize.js     # compiled
 * ```
 *
 * Every flag has an environment variable (the flag wins): `MAESTRO_URL`, `MAESTRO_API_KEY`,
 * `WORKER_QUEUE`, `WORKER_HANDLER`, `WORKER_CONCURRENCY`, `WORKER_LEASE_MS`, `WORKER_GRACE_MS`,
 * `WORKER_ID`, and `LOG_LEVEL` (default info). A bad value prints one line naming the flag or
 * variable and exits 2. A key the conductor refuses (none where one is required, a wrong or a
 * revoked one) prints one line and exits 4: retrying would not fix it.
 *
 * The handler module (resolved from the current directory) exports `default` or `handler`: an
 * async `(ctx) => output` function (see `TaskContext`). A `.ts` handler needs the TypeScript
 * loader that `npm run worker` uses (`node -r @swc-node/register`); run compiled, pass a `.js` one.
 *
 * Logs are JSON lines on stdout (pino), each task's with its `taskId` and `runId`. SIGTERM or
 * SIGINT drains: no more claims, in-flight tasks get `--grace-ms` to finish, the rest are
 * released to other workers; then the process exits 0. A second signal exits at once (the
 * conductor reclaims what was held when the leases expire).
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { TaskHandler } from './types';
import { MAX_LEASE_MS, MIN_LEASE_MS, QUEUE_PATTERN, Worker } from './worker';

/** Every environment variable the command reads; nothing else reads `process.env`. */
export const WORKER_ENV_VARS = [
  'MAESTRO_URL',
  'MAESTRO_API_KEY',
  'WORKER_QUEUE',
  'WORKER_HANDLER',
  'WORKER_CONCURRENCY',
  'WORKER_LEASE_MS',
  'WORKER_GRACE_MS',
  'WORKER_ID',
  'LOG_LEVEL',
  'PORT',
] as const;
export type WorkerEnv = Partial<Record<(typeof WORKER_ENV_VARS)[number], string | undefined>>;

/** A flag and the variable that stands in for it. */
const OPTIONS = {
  url: { flag: 'url', env: 'MAESTRO_URL' },
  apiKey: { flag: 'api-key', env: 'MAESTRO_API_KEY' },
  queue: { flag: 'queue', env: 'WORKER_QUEUE' },
  handler: { flag: 'handler', env: 'WORKER_HANDLER' },
  concurrency: { flag: 'concurrency', env: 'WORKER_CONCURRENCY' },
  leaseMs: { flag: 'lease-ms', env: 'WORKER_LEASE_MS' },
  graceMs: { flag: 'grace-ms', env: 'WORKER_GRACE_MS' },
  workerId: { flag: 'worker-id', env: 'WORKER_ID' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL' },
} as const satisfies Record<string, { flag: string; env: (typeof WORKER_ENV_VARS)[number] }>;
type OptionName = keyof typeof OPTIONS;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** The conductor's default PORT: the worker's default URL follows PORT when it is set (a conductor started with PORT=5000 in the same shell). */
const DEFAULT_PORT = '4000';
export const defaultUrl = (port: string | undefined = DEFAULT_PORT): string => `http://localhost:${port}/graphql`;
export const DEFAULT_URL = defaultUrl();

const USAGE = `Usage: worker --queue <name> --handler <module> [options]

  --queue <name>        queue to claim from (WORKER_QUEUE)
  --handler <module>    module exporting default or handler: async (ctx) => output (WORKER_HANDLER)
  --url <url>           conductor GraphQL endpoint (MAESTRO_URL; default http://localhost:$PORT/graphql, PORT 4000 when unset)
  --api-key <key>       API key of the tenant (MAESTRO_API_KEY)
  --concurrency <n>     tasks at once, 1-10000 (WORKER_CONCURRENCY; default 4)
  --lease-ms <ms>       lease per attempt, ${MIN_LEASE_MS}-${MAX_LEASE_MS} (WORKER_LEASE_MS; default 30000)
  --grace-ms <ms>       drain time on SIGTERM before releasing tasks (WORKER_GRACE_MS; default 10000)
  --worker-id <id>      shown in task attempts (WORKER_ID; default hostname:pid:random)
  --log-level <level>   ${LOG_LEVELS.join('|')} (LOG_LEVEL; default info)
  -h, --help            this text`;

/** A bad flag or variable: the message names it; the command prints it on one line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface WorkerCliConfig {
  url: string;
  apiKey: string | undefined;
  queue: string;
  /** Absolute path of the handler module. */
  handlerPath: string;
  /** Where the handler path came from (`--handler` or `WORKER_HANDLER`), for errors. */
  handlerSource: string;
  concurrency: number;
  leaseMs: number;
  graceMs: number;
  workerId: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
}

/** No --url nor MAESTRO_URL: the conductor on this machine, on PORT when it is set. */
function defaultUrlFrom(rawPort: string | undefined): { value: string; source: string } {
  const port = rawPort?.trim();
  if (!port) return { value: DEFAULT_URL, source: '--url' };
  if (!/^\d{1,5}$/.test(port)) throw new UsageError(`PORT must be the conductor's port, an integer (got ${JSON.stringify(rawPort)}); or set --url`);
  return { value: defaultUrl(port), source: 'PORT' };
}

/** Flags win over variables; each error names what the user actually set. */
export function parseWorkerConfig(argv: readonly string[], env: WorkerEnv, cwd: string): WorkerCliConfig | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(Object.values(OPTIONS).map((o) => [o.flag, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e: unknown) {
    throw new UsageError(`${(e as Error).message.split('\n')[0]} (see --help)`);
  }
  if (values['help']) return 'help';

  const read = (name: OptionName): { value: string; source: string } | undefined => {
    const { flag, env: variable } = OPTIONS[name];
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return { value: fromFlag, source: `--${flag}` };
    const fromEnv = env[variable];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: variable };
    return undefined;
  };
  const bad = (got: { value: string; source: string }, expected: string): never => {
    throw new UsageError(`${got.source} must be ${expected} (got ${JSON.stringify(got.value)})`);
  };
  const required = (name: OptionName, what: string) => {
    const got = read(name);
    if (!got || got.value.trim() === '') throw new UsageError(`--${OPTIONS[name].flag} (or ${OPTIONS[name].env}) is required: ${what}`);
    return got;
  };
  const integer = (name: OptionName, min: number, max: number, fallback: number): number => {
    const got = read(name);
    if (!got) return fallback;
    const n = Number(got.value);
    if (!/^\s*\d+\s*$/.test(got.value) || !Number.isSafeInteger(n) || n < min || n > max) bad(got, `an integer from ${min} to ${max}`);
    return n;
  };

  const urlGot = read('url') ?? defaultUrlFrom(env.PORT);
  try {
    if (!['http:', 'https:'].includes(new URL(urlGot.value).protocol)) bad(urlGot, 'an http:// or https:// URL');
  } catch (e: unknown) {
    if (e instanceof UsageError) throw e;
    bad(urlGot, 'an http:// or https:// URL');
  }
  const queue = required('queue', 'the queue of the steps this worker executes');
  if (!QUEUE_PATTERN.test(queue.value)) bad(queue, '1 to 128 letters, digits, "_", ".", ":" or "-"');
  const handler = required('handler', 'a module exporting default or handler: async (ctx) => output');
  const handlerPath = resolve(cwd, handler.value);
  if (!existsSync(handlerPath) || !statSync(handlerPath).isFile()) {
    throw new UsageError(`${handler.source} ${JSON.stringify(handler.value)}: no such file (${handlerPath})`);
  }
  const workerId = read('workerId');
  if (workerId && (workerId.value.length < 1 || workerId.value.length > 256)) bad(workerId, '1 to 256 characters');
  const logLevel = read('logLevel');
  if (logLevel && !(LOG_LEVELS as readonly string[]).includes(logLevel.value)) bad(logLevel, `one of ${LOG_LEVELS.join(', ')}`);

  return {
    url: urlGot.value,
    apiKey: read('apiKey')?.value,
    queue: queue.value,
    handlerPath,
    handlerSource: handler.source,
    concurrency: integer('concurrency', 1, 10_000, 4),
    leaseMs: integer('leaseMs', MIN_LEASE_MS, MAX_LEASE_MS, 30_000),
    graceMs: integer('graceMs', 0, 3_600_000, 10_000),
    workerId: workerId?.value,
    logLevel: (logLevel?.value ?? 'info') as WorkerCliConfig['logLevel'],
  };
}

/** The exit code for a key the conductor refuses (the maestro CLI's code for UNAUTHENTICATED). */
export const EXIT_UNAUTHENTICATED = 4;

function refusalLine(message: string, apiKey: string | undefined): string {
  return `the conductor refused the API key: ${message}${apiKey ? '' : ' (set --api-key or MAESTRO_API_KEY)'}`;
}

/**
 * Asks the conductor once (\`{ __typename }\`) whether it takes these credentials at this URL,
 * since retrying cannot fix either: a refused key (exit 4) or a URL that answers something other
 * than GraphQL (exit 2), each as one line. Null: accepted, or the conductor unreachable or
 * failing (the worker then retries with backoff, as it does for any outage).
 */
export async function preflight(url: string, apiKey: string | undefined, fetchImpl: typeof fetch = fetch): Promise<{ exitCode: number; line: string } | null> {
  let res: Response;
  let text: string;
  try {
    res = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify({ query: '{ __typename }' }),
      signal: AbortSignal.timeout(10_000),
    });
    text = await res.text();
  } catch {
    return null;
  }
  let body: { errors?: { message: string; extensions?: { code?: string } }[]; data?: unknown } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  if (!body || (!('data' in body) && !('errors' in body))) {
    if (res.status >= 500 || res.status === 429) return null;
    return { exitCode: 2, line: `${url} answered HTTP ${res.status} without GraphQL: --url (or MAESTRO_URL) must be the conductor's /graphql endpoint` };
  }
  const error = body.errors?.find((e) => e.extensions?.code === 'UNAUTHENTICATED' || e.extensions?.code === 'FORBIDDEN');
  return error ? { exitCode: EXIT_UNAUTHENTICATED, line: refusalLine(error.message, apiKey) } : null;
}

const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/**
 * Loads the handler module (CommonJS, or ESM without top-level await: Node ≥ 20.19 requires
 * both). `source` names the flag or variable for errors.
 */
export function loadHandler(handlerPath: string, source = '--handler'): TaskHandler {
  const ext = extname(handlerPath);
  // swc-node registers a `.ts` loader; compiled runs have none.
  if (TYPESCRIPT_EXTENSIONS.has(ext) && !require.extensions['.ts']) {
    throw new UsageError(
      `${source} ${handlerPath} is TypeScript: run the worker with \`node -r @swc-node/register src/worker-sdk/cli.ts\` (npm run worker), or compile the handler and pass the .js file`,
    );
  }
  let mod: unknown;
  try {
    mod = createRequire(handlerPath)(handlerPath);
  } catch (e: unknown) {
    throw new UsageError(`${source} ${handlerPath} could not be loaded: ${String((e as Error).message ?? e).split('\n')[0]}`);
  }
  const exports = mod as { default?: unknown; handler?: unknown } | undefined;
  const candidates = [mod, exports?.default, exports?.handler, (exports?.default as { default?: unknown } | undefined)?.default];
  const fn = candidates.find((c): c is TaskHandler => typeof c === 'function');
  if (!fn) throw new UsageError(`${source} ${handlerPath} exports no handler: export default (or export const handler =) an async (ctx) => output function`);
  return fn;
}

export async function main(argv: readonly string[] = process.argv.slice(2), env: WorkerEnv = process.env as WorkerEnv): Promise<void> {
  let config: WorkerCliConfig | 'help';
  let handler: TaskHandler;
  try {
    config = parseWorkerConfig(argv, env, process.cwd());
    if (config === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    handler = loadHandler(config.handlerPath, config.handlerSource);
  } catch (e: unknown) {
    if (e instanceof UsageError) {
      process.stderr.write(`worker: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }

  // Synchronous writes: lines in order, and none lost to the process.exit() after draining.
  // The conductor's line format (src/observability/logger.ts): level as a word, ISO time, service.
  const logger = pino(
    {
      level: config.logLevel,
      base: { service: 'maestro-worker', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 1, sync: true }),
  );
  const worker = new Worker({
    url: config.url,
    apiKey: config.apiKey,
    queue: config.queue,
    handler,
    concurrency: config.concurrency,
    leaseMs: config.leaseMs,
    graceMs: config.graceMs,
    workerId: config.workerId,
    logger,
  });
  const log = logger.child({ workerId: worker.workerId, queue: worker.queue });
  // A missing, wrong or revoked key: retrying cannot fix it, so say so on one line and exit.
  const refused = await preflight(config.url, config.apiKey);
  if (refused) {
    process.stderr.write(`worker: ${refused.line}\n`);
    process.exit(refused.exitCode);
  }
  // Other 'error' events are logged by the worker; listening keeps them from being thrown.
  worker.on('error', (err) => {
    const code = (err as { code?: unknown }).code;
    if (code !== 'UNAUTHENTICATED' && code !== 'FORBIDDEN') return;
    process.stderr.write(`worker: ${refusalLine(err.message, config.apiKey)}\n`);
    process.exit(EXIT_UNAUTHENTICATED);
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal, inFlight: worker.inFlight }, 'second signal: exiting now; the conductor reclaims held tasks when their leases expire');
      process.exit(130);
    }
    log.info({ signal, inFlight: worker.inFlight, graceMs: config.graceMs }, 'stopping: no more claims; draining in-flight tasks');
    worker.stop({ graceMs: config.graceMs }).then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  worker.start();
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`worker: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  });
}
