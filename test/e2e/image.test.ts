// The production image without a Docker engine (none runs here or on CI): the Dockerfile is parsed
// and linted (dockerfile-ast, dockerfile-utils), and its final stage is reproduced on this machine —
// the compiled dist/ next to production dependencies only (`npm ci --omit=dev`), owned by root — and
// run the way the image runs it: /usr/bin/tini (Debian's, as in the image) as PID of the command,
// the image's non-root uid, the image's NODE_ENV, its ENTRYPOINT + CMD, its HEALTHCHECK. What cannot
// be checked here: the base image's own contents, and `docker build` itself (the release workflow
// builds it).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Instruction } from 'dockerfile-ast';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_VARS, SECRET_VARS, type EnvVarName } from '../../src/config';
import { createTestDatabase, REAL_POSTGRES, type TestDatabase } from '../helpers/db';
import { freePort } from '../helpers/net';

const root = join(__dirname, '..', '..');
const dockerfileText = readFileSync(join(root, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(dockerfileText);
const stages = dockerfile.getFROMs();
const stageImages = stages.map((from) => dockerfile.getContainingImage(from.getRange().start)!);
const finalStage = stageImages[stageImages.length - 1]!;

const exec = (i: Instruction | undefined): string[] => JSON.parse(i!.getRawArgumentsContent()!.replace(/\\\n/g, ' ')) as string[];
const only = <T>(xs: T[], what: string): T => {
  expect(xs, what).toHaveLength(1);
  return xs[0]!;
};

/** What the final stage sets, read from the Dockerfile itself. */
const IMAGE = {
  from: (() => {
    const from = stages[stages.length - 1]!;
    const image = from.getImage()!;
    const arg = /^\$\{?(\w+)\}?$/.exec(image)?.[1];
    return arg
      ? dockerfile
          .getInitialARGs()
          .flatMap((a) => a.getProperties())
          .find((p) => p.getName() === arg)!
          .getValue()!
      : image;
  })(),
  workdir: only(
    finalStage.getInstructions().filter((i) => i.getKeyword() === 'WORKDIR'),
    'WORKDIR',
  ).getArgumentsContent()!,
  user: only(
    finalStage.getInstructions().filter((i) => i.getKeyword() === 'USER'),
    'USER',
  ).getArgumentsContent()!,
  env: Object.fromEntries(finalStage.getENVs().flatMap((e) => e.getProperties().map((p) => [p.getName(), p.getValue()!]))),
  exposed: finalStage
    .getInstructions()
    .filter((i) => i.getKeyword() === 'EXPOSE')
    .flatMap((i) => i.getArguments().map((a) => a.getValue())),
  entrypoint: exec(only(finalStage.getENTRYPOINTs(), 'ENTRYPOINT')),
  cmd: exec(only(finalStage.getCMDs(), 'CMD')),
  healthcheck: (() => {
    const raw = only(finalStage.getHEALTHCHECKs(), 'HEALTHCHECK').getRawArgumentsContent()!.replace(/\\\n/g, ' ');
    return JSON.parse(raw.slice(raw.indexOf('CMD') + 3).trim()) as string[];
  })(),
};
const [uid, gid] = IMAGE.user.split(':').map(Number) as [number, number];

/** The final stage's /app on this machine: one per package.json + lock, production dependencies only. */
let app: string;
const SHUTDOWN_GRACE_MS = 3_000;

const asUser = (command: string[]) => ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...command];

/**
 * A command as the container runs it: in a PID namespace of its own (so the ENTRYPOINT's tini is
 * PID 1, as in the container), as the image's uid/gid with no supplementary groups (setpriv), with
 * the image's ENV under the given environment, in WORKDIR.
 */
function inContainer(command: string[], env: Record<string, string | undefined>): ChildProcess {
  return spawn('unshare', ['--pid', '--fork', '--kill-child', '--', ...asUser(command)], {
    cwd: app,
    env: { PATH: process.env['PATH'], HOME: app, ...IMAGE.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** The container's PID 1 as this machine sees it (what `docker stop` signals): unshare's child. */
async function pid1(p: Proc): Promise<number> {
  return waitFor(
    'the container process',
    () => {
      const children = readFileSync(`/proc/${p.child.pid}/task/${p.child.pid}/children`, 'utf8').trim();
      return children ? Number(children.split(' ')[0]) : undefined;
    },
    5_000,
  );
}

function start(command: string[], env: Record<string, string | undefined>): Proc {
  const child = inContainer(command, env);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // 'close', not 'exit': a process's last output may still be in its pipes when it has exited.
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return { child, output: () => out, exited };
}

async function run(command: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; output: string }> {
  const p = start(command, env);
  return { code: await p.exited, output: p.output() };
}

/** The image's ENTRYPOINT followed by a command (the CMD, or another one as `docker run image …` gives). */
const entrypoint = (...command: string[]) => [...IMAGE.entrypoint, ...command];

async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(() => {
  execFileSync('bash', [join(root, 'test', 'helpers', 'ensure-tini.sh')], { stdio: 'inherit' });
  const hash = createHash('sha256')
    .update(readFileSync(join(root, 'package.json')))
    .update(readFileSync(join(root, 'package-lock.json')))
    .digest('hex')
    .slice(0, 16);
  app = join(tmpdir(), 'maestro-image-check', hash);
  if (!existsSync(join(app, 'node_modules', '.maestro-complete'))) {
    rmSync(app, { recursive: true, force: true });
    mkdirSync(app, { recursive: true });
    copyFileSync(join(root, 'package.json'), join(app, 'package.json'));
    copyFileSync(join(root, 'package-lock.json'), join(app, 'package-lock.json'));
    // The build stage's `npm ci` + `npm prune --omit=dev`, in one step.
    execFileSync('nice', ['-n', '10', 'npm', 'ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, stdio: 'ignore' });
    writeFileSync(join(app, 'node_modules', '.maestro-complete'), '');
  }
  // The build stage's `npm run build`, fresh every time (the sources change; the dependencies rarely do).
  rmSync(join(app, 'dist'), { recursive: true, force: true });
  // The final stage's `COPY vendor ./vendor`.
  rmSync(join(app, 'vendor'), { recursive: true, force: true });
  cpSync(join(root, 'vendor'), join(app, 'vendor'), { recursive: true });
  // Niced: ~20 s of CPU on 2 cores, next to timing-sensitive tests in other files (lease takeover bounds).
  execFileSync(
    'nice',
    [
      '-n',
      '10',
      process.execPath,
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      join(app, 'dist'),
    ],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  // The build stage's `npm run build` also bundles the console into dist/ui: the one the vitest
  // globalSetup built from the same ui/ sources.
  cpSync(join(root, 'dist', 'ui'), join(app, 'dist', 'ui'), { recursive: true });
  // The image's `COPY bin ./bin` (npx maestro).
  cpSync(join(root, 'bin'), join(app, 'bin'), { recursive: true });
  // Root-owned and read-only to the image user, like the image's COPY without --chown.
  for (const dir of [join(app, '..'), app]) chmodSync(dir, 0o755);
}, 240_000);

describe('Dockerfile', () => {
  it('lints clean', () => {
    expect(validate(dockerfileText).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('builds with dev dependencies and runs with production ones only', () => {
    expect(stages.map((s) => s.getBuildStage())).toEqual(['build', null]);
    const build = stageImages[0]!
      .getInstructions()
      .filter((i) => i.getKeyword() === 'RUN')
      .map((i) => i.getArgumentsContent());
    expect(build.join('\n')).toMatch(/npm ci\b/);
    expect(build.join('\n')).toMatch(/npm run build && npm prune --omit=dev/);
    // `npm run build` bundles the web console from ui/ into dist/ui.
    expect(stageImages[0]!.getCOPYs().map((c) => c.getArgumentsContent())).toContain('ui ./ui');
    const copies = finalStage.getCOPYs().map((c) => ({ from: c.getFromFlag()?.getValue() ?? null, args: c.getArgumentsContent() }));
    expect(copies).toEqual([
      { from: 'build', args: '/app/node_modules ./node_modules' },
      { from: 'build', args: '/app/dist ./dist' },
      { from: null, args: 'vendor ./vendor' },
      { from: null, args: 'package.json ./' },
      { from: null, args: 'bin ./bin' },
    ]);
    expect(
      finalStage.getCOPYs().some((c) => c.getFlags().some((f) => f.getName() === 'chown')),
      'files the runtime user could rewrite',
    ).toBe(false);
  });

  it('runs on a slim Node 26 (the current LTS) base as a non-root user with NODE_ENV=production, tini, a HEALTHCHECK and the server as CMD', () => {
    expect(IMAGE.from).toMatch(/^node:26(\.\d+)*-[a-z]+-slim$/);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    expect(IMAGE.env['NODE_ENV']).toBe('production');
    expect(IMAGE.workdir).toBe('/app');
    expect(IMAGE.entrypoint).toEqual(['/usr/bin/tini', '--']);
    expect(IMAGE.cmd).toEqual(['node', 'dist/src/server.js']);
    expect(IMAGE.healthcheck.join(' ')).toMatch(/\/healthz/);
    expect(
      finalStage
        .getInstructions()
        .find((i) => i.getKeyword() === 'RUN')!
        .getArgumentsContent(),
    ).toMatch(/apt-get install -y --no-install-recommends tini/);
  });

  it('keeps local state, dependencies and secrets out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', '.maestro', '.env', '.env.*']));
  });

  it('has every command the chart and the docs run in the compiled layout', () => {
    for (const file of [
      IMAGE.cmd[1]!,
      'dist/src/cli/migrate.js',
      'dist/src/cli/apikey.js',
      'dist/src/worker-sdk/cli.js',
      'dist/src/worker-sdk/examples/echo.js',
      'vendor/playground/build/static/js/middleware.js',
      'dist/src/cli/maestro/main.js',
      'bin/maestro.js',
    ]) {
      expect(existsSync(join(app, file)), file).toBe(true);
    }
    expect(existsSync(join(app, 'node_modules', 'typescript')), 'dev dependencies in the runtime layout').toBe(false);
    // Playground's files are vendored (vendor/playground), not a dependency with its own tree.
    expect(existsSync(join(app, 'node_modules', 'graphql-playground-react'))).toBe(false);
    const packages = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: app }).toString().trim().split('\n').length;
    const bytes = Number(
      execFileSync('du', ['-sb', join(app, 'node_modules')])
        .toString()
        .split('\t')[0],
    );
    console.log(`image layout: ${packages} production package paths, node_modules ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    expect(packages).toBeLessThan(400);
  });

  it('runs the maestro CLI from the compiled layout (bin/maestro.js → dist/)', async () => {
    const help = await run(entrypoint('node', 'bin/maestro.js', 'run', '--help'), {});
    expect(help.code, help.output).toBe(0);
    expect(help.output).toMatch(/^Usage: maestro run /);
    // A command that loads the domain code and reaches for the network: nothing listens on port 9.
    const unreachable = await run(entrypoint('node', 'bin/maestro.js', 'run', 'list'), { MAESTRO_URL: 'http://127.0.0.1:9' });
    expect(unreachable.code, unreachable.output).toBe(5);
    expect(unreachable.output).toMatch(/^maestro: UNAVAILABLE: cannot reach the conductor at http:\/\/127\.0\.0\.1:9\/graphql/);
  });
});

/**
 * A bad value for each variable with a validation rule, and the production requirements: what
 * `kubectl logs` shows during a CrashLoopBackOff. HOST and MAESTRO_DATA_DIR accept any string.
 */
const BAD: [EnvVarName, string | undefined, RegExp][] = [
  ['NODE_ENV', 'staging', /must be one of development, production, test/],
  ['PORT', 'http', /must be an integer/],
  ['LOG_LEVEL', 'loud', /must be one of fatal, error, warn, info, debug, trace, silent/],
  ['DATABASE_URL', 'mysql://maestro:hunter2@db/maestro', /must be a URL starting with postgres:\/\/ or postgresql:\/\/ \(got "<hidden>"\)/],
  ['DATABASE_URL', undefined, /must be set when NODE_ENV=production/],
  ['DATABASE_POOL_SIZE', '0', /must be a number >= 1/],
  ['REDIS_URL', 'localhost:6379', /must be a URL starting with redis:\/\/ or rediss:\/\/ \(got "<hidden>"\)/],
  ['REDIS_URL', undefined, /must be set when NODE_ENV=production and DATABASE_URL is set/],
  ['REDIS_KEY_PREFIX', 'has space', /must be up to 64 letters/],
  ['SHUTDOWN_GRACE_MS', '-1', /must be a number >= 0/],
  ['SCHEDULER_POLL_INTERVAL_MS', 'often', /must be an integer/],
  ['DISPATCH_CONCURRENCY', '1.5', /must be an integer/],
  ['HTTP_STEP_DEFAULT_TIMEOUT_MS', '0', /must be a number >= 1/],
  ['LEASE_TTL_MS', '10', /must be a number >= 1000/],
  ['NO_WORKER_AFTER_MS', '0', /must be a number >= 1000/],
  ['REAPER_INTERVAL_MS', '5', /must be a number >= 10/],
  ['ORPHAN_SWEEP_INTERVAL_MS', '50', /must be a number >= 100/],
  ['PLAYGROUND_ENABLED', 'yes', /must be one of 0, 1, true, false/],
  ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', /must be a URL starting with http:\/\/ or https:\/\//],
  ['OTEL_SERVICE_NAME', 'x'.repeat(129), /must be at most 128 characters/],
  ['METRICS_PORT', '4000', /must be different from PORT/],
  ['METRICS_LABEL_VALUES_MAX', '0', /must be a number >= 1/],
  ['STARTUP_WAIT_MS', '1m', /must be an integer/],
  ['READINESS_TIMEOUT_MS', '10', /must be a number >= 50/],
  ['REQUEST_BODY_MAX_BYTES', '2mb', /must be an integer/],
  ['WS_INIT_TIMEOUT_MS', '10', /must be a number >= 100/],
  ['WS_MAX_SUBSCRIPTIONS_PER_CONNECTION', '0', /must be a number >= 1/],
  ['WS_MAX_CONNECTIONS_PER_KEY', '0', /must be a number >= 1/],
  ['CORS_ORIGINS', 'app.example.com', /must be a comma-separated list of origins/],
  ['ALLOWED_HOSTS', 'http://maestro.example.com', /must be a comma-separated list of host names/],
  ['TRUST_PROXY', 'true', /must be a number of proxy hops/],
  ['RATE_LIMIT_PER_KEY', '-1', /must be a number >= 0/],
  ['RATE_LIMIT_PER_TENANT', 'lots', /must be an integer/],
  ['AUTH_FAILURES_PER_IP', '-1', /must be a number >= 0/],
  ['LONG_POLLS_PER_TENANT', '0', /must be a number >= 1/],
  ['TENANT_REQUESTS_WHEN_BUSY', '-1', /must be a number >= 0/],
  ['BUSY_EVENT_LOOP_PERCENT', '101', /must be a number <= 100/],
  ['DATABASE_CONNECT_TIMEOUT_MS', '5s', /must be an integer/],
  ['DATABASE_READ_CONNECTIONS', '0', /must be a number >= 1/],
  ['TENANT_READ_CONNECTIONS', 'all', /must be an integer/],
  ['DATABASE_STATEMENT_TIMEOUT_MS', '15s', /must be an integer/],
  ['DISPATCH_TENANT_CONCURRENCY', 'half', /must be an integer/],
  ['GRAPHQL_INTROSPECTION', 'on', /must be one of 0, 1, true, false/],
  ['GRAPHQL_MAX_ALIASES', '-1', /must be a number >= 0/],
  ['GRAPHQL_MAX_COST', '0', /must be a number >= 1/],
  ['GRAPHQL_MAX_DEPTH', 'deep', /must be an integer/],
  ['GRAPHQL_MAX_DIRECTIVES', 'many', /must be an integer/],
  ['GRAPHQL_MAX_RESPONSE_BYTES', '16MiB', /must be an integer/],
  ['GRAPHQL_MAX_TOKENS', '50', /must be a number >= 100/],
  ['HTTP_STEP_ALLOW', '10.0.0.0/33', /must be a comma-separated list of CIDRs \(10\.0\.0\.0\/8, fd00::\/8\), IP addresses and host names, or "none"/],
  ['HTTP_STEP_DENY', '*.internal', /must be a comma-separated list of CIDRs \(10\.0\.0\.0\/8, fd00::\/8\), IP addresses and host names, or "none"/],
  ['HTTP_STEP_MAX_REDIRECTS', '50', /must be a number <= 20/],
  ['HTTP_STEP_MAX_REQUEST_BYTES', '0', /must be a number >= 1/],
  ['HTTP_STEP_MAX_RESPONSE_BYTES', '1MB', /must be an integer/],
  ['HTTP_STEP_MAX_TIMEOUT_MS', '0', /must be a number >= 1/],
  ['HTTP_STEP_PORTS', 'https', /must be a comma-separated list of ports and ranges, like 80,443,8000-8999/],
  ['HTTP_STEP_TENANT_CONCURRENCY', '0', /must be a number >= 1/],
  ['MAX_DEFINITION_BYTES', '1MiB', /must be an integer/],
  ['MAX_INPUT_BYTES', '1MB', /must be an integer/],
  ['MAX_JSON_DEPTH', '1', /must be a number >= 2/],
  ['MAX_OUTPUT_BYTES', '100', /must be a number >= 1024/],
  ['MAX_STEPS_PER_WORKFLOW', '5000', /must be a number <= 1000/],
  ['MAX_WORKFLOW_DEPTH', '0', /must be a number >= 1/],
  ['MAX_TEMPLATE_STRING_BYTES', '0', /must be a number >= 1024/],
  ['MAX_TEMPLATE_TASK_BYTES', '4MiB', /must be an integer/],
  ['MAX_FOREACH_ITEMS', '0', /must be a number >= 1/],
  ['TENANT_MAX_ACTIVE_RUNS', '0', /must be a number >= 1/],
  ['TENANT_MAX_QUEUED_TASKS', '-1', /must be a number >= 1/],
  ['CANCEL_RUNS_MAX', '0', /must be a number >= 1/],
  ['TENANT_MAX_SCHEDULES', '0', /must be a number >= 1/],
  ['SCHEDULE_BACKFILL_MAX', 'all', /must be an integer/],
  ['WEBHOOK_REPLAY_WINDOW_MS', '10', /must be a number >= 1000/],
  ['EVENT_RETENTION_MS', '60000', /must be a number >= 3600000/],
  ['PRIORITY_AGING_MS', '0', /must be a number >= 1/],
  ['RATE_LIMIT_COST_PER_TENANT', 'lots', /must be an integer/],
  ['TENANT_MAX_EXECUTING_COST', '-1', /must be a number >= 0/],
];
const ANY_STRING: EnvVarName[] = ['HOST', 'MAESTRO_DATA_DIR'];

describe('start-up with a bad configuration, as the image runs it', () => {
  const GOOD = { DATABASE_URL: 'postgres://maestro@127.0.0.1:1/maestro', REDIS_URL: 'redis://127.0.0.1:1' };
  const results = new Map<string, Promise<{ code: number | null; output: string }>>();
  const key = (name: string, value: string | undefined) => `${name}=${value ?? '<unset>'}`;
  beforeAll(() => {
    // All at once: each exits as soon as the configuration is read.
    for (const [name, value] of BAD) results.set(key(name, value), run(entrypoint(...IMAGE.cmd), { ...GOOD, [name]: value }));
  });

  it('covers every variable the server reads', () => {
    expect([...new Set([...BAD.map(([name]) => name), ...ANY_STRING])].sort()).toEqual([...ENV_VARS].sort());
  });

  it.each(BAD)('%s=%s exits 78 with one line naming it', async (name, value, message) => {
    const { code, output } = await results.get(key(name, value))!;
    expect(output.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^Invalid configuration: ${name} ${message.source}`))]);
    expect(code).toBe(78);
    if (SECRET_VARS.has(name)) expect(output).not.toContain('hunter2');
  });
});

describe('the image lifecycle: migrate, apikey, serve, HEALTHCHECK, a worker, SIGTERM drain', () => {
  let db: TestDatabase;
  let dataDir: string | undefined;
  let env: Record<string, string | undefined>;
  let server: Proc | undefined;
  let worker: Proc | undefined;
  let port: number;
  let metricsPort: number;

  beforeAll(async () => {
    port = await freePort();
    metricsPort = await freePort();
    db = await createTestDatabase();
    // Production needs Postgres and Redis; on the embedded CI job, one node on embedded storage, which
    // production allows only with an explicit MAESTRO_DATA_DIR, writable by the image's user.
    if (!REAL_POSTGRES) {
      dataDir = mkdtempSync(join(tmpdir(), 'maestro-image-data-'));
      chownSync(dataDir, uid, gid);
    }
    env = {
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      DATABASE_URL: db.url,
      REDIS_URL: db.url ? process.env['REDIS_URL'] : undefined,
      REDIS_KEY_PREFIX: `image-${randomBytes(4).toString('hex')}:`,
      MAESTRO_DATA_DIR: dataDir,
      SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
      LOG_LEVEL: 'info',
      // Production lets http steps reach public addresses only; the drain test's endpoint is on loopback.
      HTTP_STEP_ALLOW: '127.0.0.1/32',
    };
  }, 60_000);

  afterAll(async () => {
    for (const p of [worker, server]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('cannot write into /app as the image user', () => {
    const [cmd, ...args] = asUser(['test', '-w', app]);
    expect(spawnSync(cmd!, args).status).toBe(1);
  });

  let apiKey: string;
  it('creates an API key and applies migrations with the image commands', async () => {
    const created = await run(entrypoint('node', 'dist/src/cli/apikey.js', 'create', '--tenant', 'image-check'), env);
    expect(created.code, created.output).toBe(0);
    apiKey = /^(mk_\S+)$/m.exec(created.output)![1]!;
    const migrated = await run(entrypoint('node', 'dist/src/cli/migrate.js'), env);
    expect(migrated, migrated.output).toEqual({ code: 0, output: 'Migrations are up to date.\n' });
  }, 60_000);

  it('serves as the non-root user, passes its HEALTHCHECK, and requires API keys', async () => {
    server = start(entrypoint(...IMAGE.cmd), env);
    const base = `http://127.0.0.1:${port}`;
    await waitFor('/readyz', async () => {
      if (server!.child.exitCode !== null) throw new Error(`the server exited ${server!.child.exitCode}:\n${server!.output()}`);
      const res = await fetch(`${base}/readyz`).catch(() => null);
      return res?.status === 200 ? true : undefined;
    });
    // tini is PID 1 of the container's namespace (setpriv execs it) and runs as the image's user.
    const status = readFileSync(`/proc/${await pid1(server)}/status`, 'utf8');
    expect(/^Name:\s+(\S+)/m.exec(status)![1]).toBe('tini');
    expect(/^NSpid:\s+\d+\s+(\d+)/m.exec(status)![1]).toBe('1');
    expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe(String(uid));
    // Docker runs the HEALTHCHECK command beside the main process, as the image's user, with its ENV.
    const health = spawnSync(asUser(IMAGE.healthcheck)[0]!, asUser(IMAGE.healthcheck).slice(1), {
      cwd: app,
      env: { PATH: process.env['PATH'], ...IMAGE.env, PORT: String(port) },
      encoding: 'utf8',
    });
    expect(health.status, health.stderr).toBe(0);
    const anonymous = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(anonymous.status).toBe(401);
    // The web console ships in the image: static files under their own CSP; its data needs a key.
    const consolePage = await fetch(`${base}/ui/runs`);
    expect(consolePage.status).toBe(200);
    expect(consolePage.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(await consolePage.text()).toMatch(/<script type="module" crossorigin src="\/ui\/assets\/index-[\w-]+\.js"><\/script>/);
  }, 90_000);

  const gql = async (query: string, variables?: Record<string, unknown>) => {
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: any; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };

  it('runs a smoke workflow through a worker started from the same image', async () => {
    await gql(`mutation { registerWorkflow(input: { name: "smoke", steps: [
      { key: "hello", type: "noop", input: { message: "hello {{ input.name }}" } }
      { key: "remote", type: "echo", queue: "image-check", dependsOn: ["hello"], input: "{{ steps.hello.output }}" }
    ] }) { version } }`);
    worker = start(entrypoint('node', 'dist/src/worker-sdk/cli.js', '--queue', 'image-check', '--handler', 'dist/src/worker-sdk/examples/echo.js'), {
      MAESTRO_URL: `http://127.0.0.1:${port}/graphql`,
      MAESTRO_API_KEY: apiKey,
      WORKER_GRACE_MS: '2000',
    });
    const runId = (await gql('mutation { startRun(workflow: "smoke", input: { name: "image" }) { id } }')).startRun.id as string;
    const finished = await waitFor('the smoke run to finish', async () => {
      const r = (await gql('query($id: ID!) { run(id: $id) { status output } }', { id: runId })).run;
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(r.status) ? r : undefined;
    });
    expect(finished).toMatchObject({ status: 'SUCCEEDED', output: { remote: { echo: { message: 'hello image' } } } });
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^maestro_jobs_succeeded_total\{workflow="smoke"\} 1$/m);
    // Metrics are on their own port only, never on the API port (EXPOSEd: ${IMAGE.exposed.join(', ')}).
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    expect(IMAGE.exposed).toEqual([IMAGE.env['PORT'], IMAGE.env['METRICS_PORT']]);

    process.kill(await pid1(worker), 'SIGTERM');
    expect(await worker.exited, worker.output()).toBe(0);
  }, 90_000);

  it('drains on SIGTERM to tini: an in-flight http step finishes, then the process exits 0 within SHUTDOWN_GRACE_MS', async () => {
    // An endpoint that answers 1 s after the step calls it: the step is in flight when SIGTERM arrives.
    let called!: () => void;
    const inFlight = new Promise<void>((resolve) => (called = resolve));
    const slow = createServer((_req, res) => {
      called();
      setTimeout(() => res.end('{"ok":true}'), 1_000);
    });
    slow.listen(0, '127.0.0.1');
    await once(slow, 'listening');
    try {
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/slow`;
      await gql(`mutation($url: JSON!) { registerWorkflow(input: { name: "drain", steps: [{ key: "call", type: "http", input: $url }] }) { version } }`, {
        url: { url },
      });
      await gql('mutation { startRun(workflow: "drain") { id } }');
      await inFlight;

      const pid = await pid1(server!);
      const t0 = Date.now();
      process.kill(pid, 'SIGTERM');
      const code = await server!.exited;
      const tookMs = Date.now() - t0;
      expect(code, server!.output()).toBe(0);
      expect(tookMs).toBeGreaterThanOrEqual(500);
      expect(tookMs).toBeLessThan(SHUTDOWN_GRACE_MS + 5_000);
      expect(server!.output()).toMatch(/"msg":"draining"[\s\S]*"workflow":"drain"[^\n]*"msg":"run succeeded"[\s\S]*"msg":"stopped"/);
      expect(server!.output()).not.toMatch(/second signal|"level":(50|60)/);
    } finally {
      slow.close();
    }
  }, 30_000);
});
