import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  NonRetryableError,
  RunCancelledError,
  Worker,
  WorkerStoppingError,
  type TaskContext,
  type TaskHandler,
  type WorkerEvents,
  type WorkerOptions,
} from '../../src/worker-sdk';
import { parseWorkerConfig } from '../../src/worker-sdk/cli';
import { startTestApp, type TestApp } from '../helpers/app';
import { until } from '../helpers/gates';

const RUN = `query($id: ID!) { run(id: $id) { id status output error
  tasks { id key status attempt output error workerId attempts { attempt outcome workerId error } } } }`;

/** A port that was free a moment ago: the conductor must come back on the same URL after a restart. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Polls `check` until it returns something truthy; fails naming `what` past the deadline. */
async function waitUntil<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The next `event` of `worker` whose payload satisfies `match`, within a deadline. */
function nextEvent<K extends keyof WorkerEvents>(
  worker: Worker,
  event: K,
  match: (...args: WorkerEvents[K]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<WorkerEvents[K]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: WorkerEvents[K]) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      (worker.off as (e: K, l: typeof listener) => Worker)(event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      (worker.off as (e: K, l: typeof listener) => Worker)(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for worker event ${String(event)}`));
    }, timeoutMs);
    (worker.on as (e: K, l: typeof listener) => Worker)(event, listener);
  });
}

/** A promise the test settles: lets a handler run exactly as long as the test needs. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** Resolves when `signal` aborts, or after `ms` (a bound, so a broken SDK fails the test instead of hanging it). */
function abortedOr(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

describe('worker SDK against a conductor', () => {
  let t: TestApp;
  let apiKey: string;
  const workers: Worker[] = [];
  /**
   * GraphQL operations the workers sent, by operation name and task (from a fetch spy); `ok`: an
   * HTTP 2xx answer (a restarting conductor answers 503 UNAVAILABLE while it connects).
   */
  const sent: { op: string; taskId?: string; ok: boolean }[] = [];

  const spyFetch: typeof fetch = async (input, init) => {
    const body = JSON.parse(String(init?.body ?? '{}')) as { operationName?: string; variables?: { taskId?: string } };
    try {
      const res = await fetch(input, init);
      sent.push({ op: body.operationName ?? '?', taskId: body.variables?.taskId, ok: res.ok });
      return res;
    } catch (e: unknown) {
      sent.push({ op: body.operationName ?? '?', taskId: body.variables?.taskId, ok: false });
      throw e;
    }
  };

  const worker = (queue: string, handler: TaskHandler, opts: Partial<WorkerOptions> = {}): Worker => {
    const w = new Worker({
      url: t.app.url,
      apiKey,
      queue,
      handler,
      leaseMs: 5_000,
      pollWaitMs: 5_000,
      backoff: { initialDelayMs: 50, maxDelayMs: 500 },
      fetch: spyFetch,
      ...opts,
    });
    w.on('error', () => undefined);
    workers.push(w);
    return w;
  };

  const register = async (name: string, queue: string, retry: Record<string, number> = { maxAttempts: 1 }) => {
    await t.ok(
      `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`,
      { input: { name, steps: [{ key: 'work', type: 'job', queue, input: '{{ input }}', retry }] } },
      apiKey,
    );
  };
  const startRun = async (workflow: string, input: unknown): Promise<string> =>
    (await t.ok(`mutation($w: String!, $input: JSON) { startRun(workflow: $w, input: $input) { id } }`, { w: workflow, input }, apiKey)).startRun.id;
  const readRun = async (id: string) => (await t.ok(RUN, { id }, apiKey)).run;
  const finished = async (id: string, timeoutMs = 20_000) =>
    waitUntil(
      async () => {
        const run = await readRun(id);
        return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(run.status) ? run : null;
      },
      `run ${id} to finish`,
      timeoutMs,
    );

  beforeAll(async () => {
    const port = await freePort();
    // Persistent (embedded): the restart test brings the conductor back on the same data and port.
    t = await startTestApp({ persistent: true, env: { PORT: String(port), LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '50' } });
    ({ key: apiKey } = await t.app.services.auth.createKey('sdk-tests'));
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
  });
  afterAll(async () => {
    await t?.close();
  });

  // Each test has a queue of its own: a stopped worker's abandoned long poll must not claim the
  // next test's tasks (see the report: the conductor keeps such a poll running).

  it('processes a queue end to end in batches: runs SUCCEEDED, outputs recorded', async () => {
    await register('sdk-e2e', 'sdk-e2e');
    const ids = await Promise.all(Array.from({ length: 10 }, (_, n) => startRun('sdk-e2e', { n })));
    const w = worker('sdk-e2e', async (ctx) => ({ doubled: (ctx.input as { n: number }).n * 2, key: ctx.key, type: ctx.type }), { concurrency: 4 });
    const batches: number[] = [];
    const done: string[] = [];
    w.on('tasks:claimed', (e) => batches.push(e.count));
    w.on('task:done', (e) => done.push(e.taskId));
    w.start();

    for (const [n, id] of ids.entries()) {
      const run = await finished(id);
      expect(run).toMatchObject({ status: 'SUCCEEDED', output: { work: { doubled: n * 2, key: 'work', type: 'job' } } });
      expect(run.tasks[0]).toMatchObject({ status: 'SUCCEEDED', attempt: 1, workerId: w.workerId });
      expect(run.tasks[0].attempts).toEqual([{ attempt: 1, outcome: 'SUCCEEDED', workerId: w.workerId, error: null }]);
    }
    expect(done).toHaveLength(10);
    // Ten ready tasks and four slots: the first claim takes four at once.
    expect(batches[0]).toBe(4);
    expect(Math.max(...batches)).toBeLessThanOrEqual(4);
  });

  it('reports results that finish together in one completeTasks request, each recorded once', async () => {
    await register('sdk-batch', 'sdk-batch');
    const ids = await Promise.all(Array.from({ length: 6 }, (_, n) => startRun('sdk-batch', { n })));
    // Every handler waits for the gate: all six finish in the same tick.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let started = 0;
    const w = worker(
      'sdk-batch',
      async (ctx) => {
        started++;
        await gate;
        return { n: (ctx.input as { n: number }).n };
      },
      { concurrency: 6 },
    );
    w.start();
    await waitUntil(async () => started === 6, 'six handlers to start');
    const before = sent.length;
    open();
    for (const [n, id] of ids.entries()) {
      const run = await finished(id);
      expect(run).toMatchObject({ status: 'SUCCEEDED', output: { work: { n } } });
      expect(run.tasks[0].attempts).toEqual([{ attempt: 1, outcome: 'SUCCEEDED', workerId: w.workerId, error: null }]);
    }
    const reports = sent.slice(before).filter((r) => r.op === 'CompleteTasks' || r.op === 'CompleteTask');
    expect(reports.map((r) => r.op)).toEqual(['CompleteTasks']);
  });

  it('an output that is not JSON fails only its own task when it finishes with others', async () => {
    await register('sdk-batch-bad', 'sdk-batch-bad');
    const ids = await Promise.all(Array.from({ length: 3 }, (_, n) => startRun('sdk-batch-bad', { n })));
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let started = 0;
    const w = worker(
      'sdk-batch-bad',
      async (ctx) => {
        started++;
        await gate;
        const { n } = ctx.input as { n: number };
        // A BigInt has no JSON form: the handler's bug, refused for this task alone.
        return n === 1 ? { n: 1n } : { n };
      },
      { concurrency: 3 },
    );
    w.start();
    await waitUntil(async () => started === 3, 'three handlers to start');
    open();
    const runs = await Promise.all(ids.map((id) => finished(id)));
    expect(runs.map((r) => r.status)).toEqual(['SUCCEEDED', 'FAILED', 'SUCCEEDED']);
    expect(runs[1].tasks[0].error).toMatch(/output was refused/);
  });

  it('fails an attempt on a throw and lets the step retry policy retry it', async () => {
    await register('sdk-retry', 'sdk-retry', { maxAttempts: 3, initialDelayMs: 10 });
    const w = worker('sdk-retry', (ctx) => {
      if (ctx.attempt < 3) throw new Error(`flaky ${ctx.attempt}`);
      return { ok: ctx.attempt };
    });
    const failures: { retryable: boolean; error: string }[] = [];
    w.on('task:failed', (e) => failures.push({ retryable: e.retryable, error: e.error }));
    w.start();
    const run = await finished(await startRun('sdk-retry', {}));
    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { work: { ok: 3 } } });
    expect(run.tasks[0].attempts.map((a: { outcome: string; error: string | null }) => [a.outcome, a.error])).toEqual([
      ['FAILED', 'flaky 1'],
      ['FAILED', 'flaky 2'],
      ['SUCCEEDED', null],
    ]);
    expect(failures).toEqual([
      { retryable: true, error: 'flaky 1' },
      { retryable: true, error: 'flaky 2' },
    ]);

    // Retries run out: the run fails with the last error.
    await register('sdk-exhaust', 'sdk-exhaust', { maxAttempts: 3, initialDelayMs: 10 });
    worker('sdk-exhaust', () => Promise.reject(new Error('always broken'))).start();
    const exhausted = await finished(await startRun('sdk-exhaust', {}));
    expect(exhausted.status).toBe('FAILED');
    expect(exhausted.tasks[0]).toMatchObject({ status: 'FAILED', attempt: 3, error: 'always broken' });
    expect(exhausted.tasks[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['FAILED', 'FAILED', 'FAILED']);
  });

  it('fails at once on NonRetryableError, whatever the retry policy', async () => {
    await register('sdk-fatal', 'sdk-fatal', { maxAttempts: 5, initialDelayMs: 10 });
    const w = worker('sdk-fatal', () => {
      throw new NonRetryableError('bad input: no image');
    });
    const failed = nextEvent(w, 'task:failed');
    w.start();
    const run = await finished(await startRun('sdk-fatal', {}));
    expect(run.status).toBe('FAILED');
    expect(run.tasks[0]).toMatchObject({ status: 'FAILED', attempt: 1, error: 'bad input: no image' });
    expect(run.tasks[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['FAILED']);
    const [event] = await failed;
    expect(event).toMatchObject({ retryable: false, error: 'bad input: no image' });
  });

  it('heartbeats keep an attempt alive past its lease: a 2.5 s handler on a 1 s lease stays attempt 1', async () => {
    await register('sdk-heartbeat', 'sdk-heartbeat', { maxAttempts: 3, initialDelayMs: 10 });
    const w = worker(
      'sdk-heartbeat',
      async (ctx) => {
        // The work itself takes 2.5 s (two and a half leases).
        await new Promise((r) => setTimeout(r, 2_500));
        return { aborted: ctx.signal.aborted };
      },
      { leaseMs: 1_000 },
    );
    let renewals = 0;
    const lost: unknown[] = [];
    w.on('lease:renewed', () => renewals++);
    w.on('lease:lost', (e) => lost.push(e));
    w.start();
    const run = await finished(await startRun('sdk-heartbeat', {}));
    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { work: { aborted: false } } });
    expect(run.tasks[0].attempt).toBe(1);
    expect(run.tasks[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['SUCCEEDED']);
    expect(lost).toEqual([]);
    // A beat every 333 ms for 2.5 s.
    expect(renewals).toBeGreaterThanOrEqual(5);
  });

  it('cancelRun while the handler runs: the signal aborts with RunCancelledError and no result is reported', async () => {
    await register('sdk-cancel', 'sdk-cancel');
    let seen: { aborted: boolean; reason: unknown } | undefined;
    const w = worker(
      'sdk-cancel',
      async (ctx: TaskContext) => {
        await abortedOr(ctx.signal, 10_000);
        seen = { aborted: ctx.signal.aborted, reason: ctx.signal.reason };
        // A handler that returns anyway: the SDK must not report it.
        return { late: true };
      },
      { leaseMs: 1_000 },
    );
    const results: string[] = [];
    w.on('task:done', (e) => results.push(`done ${e.taskId}`));
    w.on('task:failed', (e) => results.push(`failed ${e.taskId}`));
    w.start();
    const id = await startRun('sdk-cancel', {});
    const [start] = await nextEvent(w, 'task:start', (e) => e.runId === id);
    const abandoned = nextEvent(w, 'task:abandoned', (e) => e.taskId === start.taskId);
    const lost = nextEvent(w, 'lease:lost', (e) => e.taskId === start.taskId);
    await t.ok(`mutation($id: ID!) { cancelRun(id: $id) { status } }`, { id }, apiKey);

    const [lostEvent] = await lost;
    expect(lostEvent).toMatchObject({ code: 'RUN_CANCELLED', during: 'heartbeat', runId: id });
    await abandoned;
    await waitUntil(async () => w.inFlight === 0, 'the attempt to settle');
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBeInstanceOf(RunCancelledError);
    expect(results).toEqual([]);
    expect(sent.filter((s) => s.taskId === start.taskId && (s.op === 'CompleteTask' || s.op === 'FailTask'))).toEqual([]);
    const run = await readRun(id);
    expect(run.status).toBe('CANCELLED');
    expect(run.tasks[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['CANCELLED']);
  });

  it('stop() drains: a handler that finishes within the grace is recorded, the others are released to another worker', async () => {
    await register('sdk-drain', 'sdk-drain');
    const quick = await startRun('sdk-drain', { ms: 100 });
    const slow = await startRun('sdk-drain', { ms: 60_000 });
    await waitUntil(async () => (await readRun(slow)).tasks[0].status === 'QUEUED' && (await readRun(quick)).tasks[0].status === 'QUEUED', 'both tasks queued');

    let slowSignal: AbortSignal | undefined;
    const handler: TaskHandler = async (ctx) => {
      const { ms } = ctx.input as { ms: number };
      if (ctx.workerId === a.workerId && ms > 1_000) slowSignal = ctx.signal;
      await abortedOr(ctx.signal, ctx.workerId === a.workerId ? ms : 0);
      return { by: ctx.workerId };
    };
    // Two slots, two ready tasks: one claim takes both, and no long poll is left open.
    const a = worker('sdk-drain', handler, { concurrency: 2 });
    const started = new Set<string>();
    const bothStarted = new Promise<void>((resolve) =>
      a.on('task:start', (e) => {
        started.add(e.runId);
        if (started.size === 2) resolve();
      }),
    );
    const released: string[] = [];
    a.on('task:released', (e) => released.push(e.runId));
    a.start();
    await bothStarted;

    const stopped = a.stop({ graceMs: 500 });
    expect(a.state).toBe('stopping');
    await stopped;
    expect(a.state).toBe('stopped');
    expect(a.inFlight).toBe(0);
    expect(released).toEqual([slow]);
    expect(slowSignal?.reason).toBeInstanceOf(WorkerStoppingError);
    expect((await readRun(quick)).tasks[0]).toMatchObject({ status: 'SUCCEEDED', attempt: 1, output: { by: a.workerId } });
    // Back in the queue at once, the attempt not counted.
    const releasedTask = (await readRun(slow)).tasks[0];
    expect(releasedTask).toMatchObject({ status: 'QUEUED', attempt: 0 });
    expect(releasedTask.attempts.map((x: { outcome: string }) => x.outcome)).toEqual(['RELEASED']);

    const b = worker('sdk-drain', handler);
    b.start();
    const run = await finished(slow);
    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { work: { by: b.workerId } } });
    expect(run.tasks[0].attempt).toBe(1);
    expect(run.tasks[0].attempts.map((x: { outcome: string; workerId: string }) => [x.outcome, x.workerId])).toEqual([
      ['RELEASED', a.workerId],
      ['SUCCEEDED', b.workerId],
    ]);
  });

  it('survives the conductor restarting: the in-flight result is retried until recorded, and claims resume', async () => {
    await register('sdk-restart', 'sdk-restart');
    const hold = gate();
    const w = worker(
      'sdk-restart',
      async (ctx) => {
        if ((ctx.input as { hold?: boolean }).hold) await Promise.race([hold.opened, abortedOr(ctx.signal, 20_000)]);
        return { n: (ctx.input as { n: number }).n };
      },
      { concurrency: 2, leaseMs: 5_000 },
    );
    w.start();
    const before = await finished(await startRun('sdk-restart', { n: 1 }));
    expect(before.status).toBe('SUCCEEDED');

    const held = await startRun('sdk-restart', { n: 2, hold: true });
    const [start] = await nextEvent(w, 'task:start', (e) => e.runId === held);
    const lostConnection = nextEvent(w, 'connection:lost');
    const restored = nextEvent(w, 'connection:restored');
    // Down until the worker has noticed (its next poll or heartbeat fails: a restart quicker than
    // its next request went unnoticed), then the handler finishes, so its result meets a closed port.
    await t.restart(async () => {
      await lostConnection;
      hold.open();
      await until(() => sent.some((s) => s.taskId === start.taskId && s.op === 'CompleteTask' && !s.ok), 'the result to meet the closed port');
    });
    const [{ downMs }] = await restored;

    const run = await finished(held);
    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { work: { n: 2 } } });
    expect(run.tasks[0].attempts.map((x: { outcome: string }) => x.outcome)).toEqual(['SUCCEEDED']);
    const reports = sent.filter((s) => s.taskId === start.taskId && s.op === 'CompleteTask');
    expect(reports.filter((r) => r.ok)).toHaveLength(1);
    console.log(`[restart] conductor unreachable for ${downMs} ms; the result was sent ${reports.length} time(s), recorded once`);

    // Claims resume on their own.
    const after = await finished(await startRun('sdk-restart', { n: 3 }));
    expect(after).toMatchObject({ status: 'SUCCEEDED', output: { work: { n: 3 } } });
    expect(w.state).toBe('running');
  });

  it('rides out 503s and network errors with backoff, then works on', async () => {
    await register('sdk-flaky', 'sdk-flaky');
    let failing = 5;
    // The first five requests fail: three 503s (a draining conductor, a proxy), two resets.
    const flakyFetch: typeof fetch = async (input, init) => {
      if (failing > 0) {
        failing--;
        if (failing >= 2) return new Response('Service Unavailable', { status: 503 });
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
      }
      return spyFetch(input, init);
    };
    const id = await startRun('sdk-flaky', { x: 1 });
    const w = worker('sdk-flaky', (ctx) => ({ echo: ctx.input }), { fetch: flakyFetch });
    const lost = nextEvent(w, 'connection:lost');
    const restored = nextEvent(w, 'connection:restored');
    w.start();
    const [{ error }] = await lost;
    expect(error).toMatchObject({ code: 'UNAVAILABLE', retryable: true, status: 503 });
    await restored;
    const run = await finished(id);
    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { work: { echo: { x: 1 } } } });
    expect(failing).toBe(0);
  });

  it.each([
    [['--queue', 'q'], {}, /^--handler \(or WORKER_HANDLER\) is required/],
    [['--handler', 'src/worker-sdk/examples/echo.ts'], {}, /^--queue \(or WORKER_QUEUE\) is required/],
    [['--queue', 'no spaces', '--handler', 'src/worker-sdk/examples/echo.ts'], {}, /^--queue must be 1 to 128 letters/],
    [
      ['--handler', 'src/worker-sdk/examples/echo.ts'],
      { WORKER_QUEUE: 'q', WORKER_CONCURRENCY: 'many' },
      /^WORKER_CONCURRENCY must be an integer from 1 to 10000 \(got "many"\)$/,
    ],
    [['--queue', 'q', '--handler', 'src/worker-sdk/examples/echo.ts', '--concurrency', '0'], { WORKER_CONCURRENCY: '8' }, /^--concurrency must be an integer/],
    [['--queue', 'q', '--handler', 'src/worker-sdk/examples/echo.ts', '--lease-ms', '500'], {}, /^--lease-ms must be an integer from 1000 to 3600000/],
    [['--queue', 'q', '--handler', 'nope.js'], {}, /^--handler "nope.js": no such file/],
    [['--queue', 'q'], { WORKER_HANDLER: 'nope.js' }, /^WORKER_HANDLER "nope.js": no such file/],
    [
      ['--queue', 'q', '--handler', 'src/worker-sdk/examples/echo.ts'],
      { MAESTRO_URL: 'localhost:4000' },
      /^MAESTRO_URL must be an http:\/\/ or https:\/\/ URL/,
    ],
    [['--queue', 'q', '--handler', 'src/worker-sdk/examples/echo.ts', '--log-level', 'loud'], {}, /^--log-level must be one of/],
    [['--queue', 'q', '--bogus'], {}, /^Unknown option '--bogus'/],
  ])('the worker command refuses %j with %j, naming the flag or variable', (argv, env, message) => {
    expect(() => parseWorkerConfig(argv, env, process.cwd())).toThrow(message);
  });

  it('the worker command reads flags over variables, with defaults', () => {
    expect(
      parseWorkerConfig(
        ['--queue', 'images', '--concurrency', '8'],
        { WORKER_HANDLER: 'src/worker-sdk/examples/echo.ts', WORKER_CONCURRENCY: '2', WORKER_LEASE_MS: '5000' },
        process.cwd(),
      ),
    ).toMatchObject({
      url: 'http://localhost:4000/graphql',
      queue: 'images',
      handlerPath: `${process.cwd()}/src/worker-sdk/examples/echo.ts`,
      concurrency: 8,
      leaseMs: 5_000,
      graceMs: 10_000,
      logLevel: 'info',
    });
    expect(parseWorkerConfig(['--help'], {}, process.cwd())).toBe('help');
  });

  it('validates its options, naming the bad one', () => {
    const base = { url: 'http://localhost:4000/graphql', queue: 'q', handler: () => null };
    expect(() => new Worker({ ...base, queue: 'bad queue' })).toThrow(/"queue"/);
    expect(() => new Worker({ ...base, concurrency: 0 })).toThrow(/"concurrency"/);
    expect(() => new Worker({ ...base, leaseMs: 10 })).toThrow(/"leaseMs"/);
    expect(() => new Worker({ ...base, url: 'ftp://x' })).toThrow(/"url"/);
    expect(() => new Worker({ ...base, heartbeatFraction: 1 })).toThrow(/"heartbeatFraction"/);
  });
});
