import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * How built-in steps execute, end to end through the API: DAG ordering, templates resolved at
 * run time, the http executor against a real local server, cancellation, and retry backoff.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id status } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { id status output error startedAt finishedAt } }`;
const RUN = `query($id: ID!) {
  run(id: $id) {
    id status output error startedAt finishedAt
    tasks { id key status attempt input output error startedAt finishedAt }
    events { seq type status taskKey attempt data createdAt }
  }
}`;

interface TaskView {
  id: string;
  key: string;
  status: string;
  attempt: number;
  input: any;
  output: any;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}
interface EventView {
  seq: number;
  type: 'RUN_STATUS' | 'TASK_STATUS';
  status: string;
  taskKey: string | null;
  attempt: number | null;
  data: any;
  createdAt: string;
}
interface RunView {
  id: string;
  status: string;
  output: any;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  tasks: TaskView[];
  events: EventView[];
}
interface StepSpec {
  key: string;
  type: string;
  dependsOn?: string[];
  input?: unknown;
  retry?: { maxAttempts?: number; initialDelayMs?: number; backoffFactor?: number; maxDelayMs?: number };
  timeoutMs?: number;
}

const ms = (iso: string | null): number => {
  if (iso === null) throw new Error('expected a timestamp, got null');
  return new Date(iso).getTime();
};

describe('execution of built-in steps', () => {
  let t: TestApp;

  const register = async (name: string, steps: StepSpec[]) => t.ok(REGISTER, { input: { name, steps } });
  const start = async (wf: string, input: unknown = {}): Promise<string> => (await t.ok<{ startRun: { id: string } }>(START, { wf, input })).startRun.id;
  const read = async (id: string): Promise<RunView> => (await t.ok<{ run: RunView }>(RUN, { id })).run;
  /** Starts a run, waits (on the run:finished hook) until it is terminal, and reads it back whole. */
  const runToEnd = async (wf: string, input: unknown = {}): Promise<RunView> => {
    const id = await start(wf, input);
    await waitForRun(t, id);
    return read(id);
  };
  const task = (run: RunView, key: string): TaskView => {
    const found = run.tasks.find((x) => x.key === key);
    if (!found) throw new Error(`run ${run.id} has no task "${key}"`);
    return found;
  };
  const taskEvents = (run: RunView, key: string): EventView[] => run.events.filter((e) => e.taskKey === key);

  // ---------------------------------------------------------------------------------------------
  // A local HTTP server the http steps call. Routes:
  //   /json            200 with a JSON body and a custom header
  //   /echo            records method, headers and body; 201 with a JSON echo
  //   /status/<n>/<id> answers <n> every time (counted per path)
  //   /flaky/<f>/<id>  503 for the first <f> calls of this path, then 200 (counted per path)
  //   /hang            never answers
  // ---------------------------------------------------------------------------------------------
  let server: Server;
  let base: string;
  const calls = new Map<string, number>();
  const received = new Map<string, { method: string; headers: IncomingMessage['headers']; body: string }>();
  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const n = (calls.get(path) ?? 0) + 1;
      calls.set(path, n);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const parts = path.split('/').filter(Boolean);
        if (path === '/json') {
          sendJson(res, 200, { hello: 'world', items: [1, 2, 3] }, { 'x-served-by': 'test-server' });
        } else if (parts[0] === 'echo') {
          received.set(path, { method: req.method ?? '', headers: req.headers, body });
          sendJson(res, 201, { method: req.method, got: body.length ? (JSON.parse(body) as unknown) : null });
        } else if (parts[0] === 'status') {
          sendJson(res, Number(parts[1]), { error: `status ${parts[1]}` });
        } else if (parts[0] === 'flaky') {
          if (n <= Number(parts[1])) sendJson(res, 503, { error: 'try again' });
          else sendJson(res, 200, { call: n });
        } else if (path === '/hang') {
          // Never answer: the step's timeout must end the attempt. afterAll closes the socket.
        } else {
          sendJson(res, 404, { error: 'no such route' });
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestApp();
  });

  afterAll(async () => {
    await t?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  // ---------------------------------------------------------------------------------------------
  describe('DAG ordering', () => {
    const fanOut = (width: number): StepSpec[] => {
      const middle = Array.from({ length: width }, (_, i) => ({
        key: `m${String(i).padStart(2, '0')}`,
        type: 'noop',
        dependsOn: ['root'],
        input: { i },
      }));
      return [
        { key: 'root', type: 'noop', input: { role: 'root' } },
        ...middle,
        { key: 'join', type: 'noop', dependsOn: middle.map((m) => m.key), input: { role: 'join' } },
      ];
    };
    const shapes: { name: string; steps: StepSpec[] }[] = [
      {
        name: 'diamond',
        steps: [
          { key: 'a', type: 'noop', input: { step: 'a' } },
          { key: 'b', type: 'noop', dependsOn: ['a'], input: { step: 'b' } },
          { key: 'c', type: 'noop', dependsOn: ['a'], input: { step: 'c' } },
          { key: 'd', type: 'noop', dependsOn: ['b', 'c'], input: { step: 'd' } },
        ],
      },
      // 50 steps: root → 48 in parallel → join.
      { name: 'fan-out-fan-in', steps: fanOut(48) },
      // Several leaves, so the output-keying is not trivially "the last step".
      {
        name: 'fork',
        steps: [
          { key: 'a', type: 'noop', input: { step: 'a' } },
          { key: 'left', type: 'noop', dependsOn: ['a'], input: { step: 'left' } },
          { key: 'right', type: 'sleep', dependsOn: ['a'], input: { ms: 20 } },
          { key: 'lone', type: 'noop', input: { step: 'lone' } },
        ],
      },
    ];

    it.each(shapes)('$name: succeeds, every task starts after all its dependencies finished, output keyed by leaves', async ({ name, steps }) => {
      if (name === 'fan-out-fan-in') expect(steps).toHaveLength(50);
      await register(name, steps);
      const run = await runToEnd(name);

      expect(run.status).toBe('SUCCEEDED');
      expect(run.error).toBeNull();
      expect(run.tasks).toHaveLength(steps.length);
      for (const x of run.tasks) expect(x).toMatchObject({ status: 'SUCCEEDED', attempt: 1 });

      const byKey = new Map(run.tasks.map((x) => [x.key, x]));
      const seqOf = (key: string, status: string): number => {
        const e = run.events.find((ev) => ev.taskKey === key && ev.status === status);
        if (!e) throw new Error(`no ${status} event for "${key}"`);
        return e.seq;
      };
      for (const step of steps) {
        const started = byKey.get(step.key)!;
        for (const dep of step.dependsOn ?? []) {
          const finished = byKey.get(dep)!;
          // Timestamps: the claim reads the clock after the dependency's completion committed.
          expect(ms(started.startedAt), `${step.key} started before ${dep} finished`).toBeGreaterThanOrEqual(ms(finished.finishedAt));
          // The event history orders it strictly: queued and running only after the dependency succeeded.
          expect(seqOf(step.key, 'QUEUED')).toBeGreaterThan(seqOf(dep, 'SUCCEEDED'));
          expect(seqOf(step.key, 'RUNNING')).toBeGreaterThan(seqOf(dep, 'SUCCEEDED'));
        }
      }

      const dependedOn = new Set(steps.flatMap((s) => s.dependsOn ?? []));
      const leaves = steps.filter((s) => !dependedOn.has(s.key));
      expect(Object.keys(run.output).sort()).toEqual(leaves.map((s) => s.key).sort());
      for (const leaf of leaves) expect(run.output[leaf.key]).toEqual(byKey.get(leaf.key)!.output);
      // The run finished last, and its events are numbered from 1 without gaps.
      expect(run.events.map((e) => e.seq)).toEqual(run.events.map((_, i) => i + 1));
      expect(run.events.at(-1)).toMatchObject({ type: 'RUN_STATUS', status: 'SUCCEEDED' });
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('templates resolved at run time', () => {
    it('a path missing from a dependency output fails the task naming it; the run FAILS and unstarted steps are CANCELLED', async () => {
      await register('tpl-missing', [
        { key: 'a', type: 'noop', input: { present: { x: 1 } } },
        { key: 'b', type: 'noop', dependsOn: ['a'], input: { v: '{{ steps.a.output.missing.deep }}' } },
        { key: 'c', type: 'noop', dependsOn: ['b'], input: {} },
        // A sibling of b, declared after it: it is promoted by the same transition that fails b.
        { key: 'd', type: 'noop', dependsOn: ['a'], input: {} },
      ]);
      const run = await runToEnd('tpl-missing');

      expect(run.status).toBe('FAILED');
      const b = task(run, 'b');
      expect(b.status).toBe('FAILED');
      expect(b.attempt).toBe(0); // never started: nothing to retry
      expect(b.error).toContain('steps.a.output.missing.deep');
      expect(b.error).toContain('"missing" does not exist on steps.a.output');
      expect(run.error).toContain('Step "b" failed');
      expect(run.error).toContain('steps.a.output.missing.deep');
      expect(task(run, 'a').status).toBe('SUCCEEDED');
      expect(task(run, 'c')).toMatchObject({ status: 'CANCELLED', attempt: 0, startedAt: null });
      expect(task(run, 'd')).toMatchObject({ status: 'CANCELLED', attempt: 0, startedAt: null });
      expect(taskEvents(run, 'b').map((e) => e.status)).toEqual(['FAILED']);
      expect(taskEvents(run, 'b')[0].data).toEqual({ error: b.error });
      expect(run.events.at(-1)).toMatchObject({ type: 'RUN_STATUS', status: 'FAILED' });
    });

    it('passes whole values through and interpolates text', async () => {
      await register('tpl-values', [
        { key: 'a', type: 'noop', input: { user: '{{ input.user }}', count: '{{ input.count }}', nothing: '{{ input.nothing }}' } },
        {
          key: 'b',
          type: 'noop',
          dependsOn: ['a'],
          input: {
            whole: '{{ steps.a.output.user }}',
            tags: '{{ steps.a.output.user.tags }}',
            first: '{{ steps.a.output.user.tags[0] }}',
            count: '{{steps.a.output.count}}',
            text: 'Hi {{ steps.a.output.user.name }}, {{ steps.a.output.count }} new; tags={{ steps.a.output.user.tags }}; none=[{{ steps.a.output.nothing }}]',
            literal: 'no templates here',
          },
        },
      ]);
      const user = { name: 'Ada', tags: ['x', 'y'], admin: true };
      const run = await runToEnd('tpl-values', { user, count: 3, nothing: null });

      expect(run.status).toBe('SUCCEEDED');
      expect(task(run, 'a').input).toEqual({ user, count: 3, nothing: null });
      const expected = {
        whole: user,
        tags: ['x', 'y'],
        first: 'x',
        count: 3,
        text: 'Hi Ada, 3 new; tags=["x","y"]; none=[]',
        literal: 'no templates here',
      };
      expect(task(run, 'b').input).toEqual(expected);
      expect(run.output).toEqual({ b: expected });
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('http steps', () => {
    it('a 2xx JSON response becomes { status, headers, body } with the body parsed', async () => {
      await register('http-get', [{ key: 'call', type: 'http', input: { url: '{{ input.url }}' } }]);
      const run = await runToEnd('http-get', { url: `${base}/json` });

      expect(run.status).toBe('SUCCEEDED');
      const out = task(run, 'call').output;
      expect(out.status).toBe(200);
      expect(out.body).toEqual({ hello: 'world', items: [1, 2, 3] });
      expect(out.headers['content-type']).toContain('application/json');
      expect(out.headers['x-served-by']).toBe('test-server');
      expect(run.output).toEqual({ call: out });
    });

    it('a POST sends its JSON body and headers to the server', async () => {
      await register('http-post', [
        {
          key: 'post',
          type: 'http',
          input: {
            url: `${base}/echo/post-1`,
            method: 'post',
            headers: { 'x-request-id': '{{ input.requestId }}' },
            body: { order: '{{ input.order }}', note: 'for {{ input.order.customer }}' },
          },
        },
      ]);
      const order = { id: 42, customer: 'Ada', lines: [{ sku: 'a', qty: 2 }] };
      const run = await runToEnd('http-post', { requestId: 'req-123', order });

      expect(run.status).toBe('SUCCEEDED');
      const got = received.get('/echo/post-1');
      expect(got).toBeDefined();
      expect(got!.method).toBe('POST');
      expect(got!.headers['x-request-id']).toBe('req-123');
      expect(got!.headers['content-type']).toContain('application/json');
      expect(JSON.parse(got!.body)).toEqual({ order, note: 'for Ada' });
      expect(task(run, 'post').output).toMatchObject({ status: 201, body: { method: 'POST', got: { order, note: 'for Ada' } } });
    });

    it('a 5xx fails the run with the status in the error', async () => {
      await register('http-500', [{ key: 'call', type: 'http', input: { url: `${base}/status/500/plain` }, retry: { maxAttempts: 1 } }]);
      const run = await runToEnd('http-500');

      expect(run.status).toBe('FAILED');
      expect(task(run, 'call')).toMatchObject({ status: 'FAILED', attempt: 1 });
      expect(task(run, 'call').error).toContain('500');
      expect(run.error).toContain('Step "call" failed');
      expect(run.error).toContain('500');
      expect(calls.get('/status/500/plain')).toBe(1);
    });

    it('a 5xx is retried per the policy and succeeds on the 3rd attempt', async () => {
      await register('http-retry', [{ key: 'call', type: 'http', input: { url: `${base}/flaky/2/retry-1` }, retry: { maxAttempts: 3, initialDelayMs: 10 } }]);
      const run = await runToEnd('http-retry');

      expect(run.status).toBe('SUCCEEDED');
      expect(task(run, 'call')).toMatchObject({ status: 'SUCCEEDED', attempt: 3, output: { status: 200, body: { call: 3 } } });
      expect(calls.get('/flaky/2/retry-1')).toBe(3);
      const retries = taskEvents(run, 'call').filter((e) => e.status === 'QUEUED' && e.data?.retryInMs !== undefined);
      expect(retries.map((e) => e.attempt)).toEqual([1, 2]);
      for (const e of retries) expect(e.data.error).toContain('503');
    });

    it('a 404 is not retried, whatever the policy', async () => {
      await register('http-404', [{ key: 'call', type: 'http', input: { url: `${base}/status/404/once` }, retry: { maxAttempts: 3, initialDelayMs: 10 } }]);
      const run = await runToEnd('http-404');

      expect(run.status).toBe('FAILED');
      expect(task(run, 'call')).toMatchObject({ status: 'FAILED', attempt: 1 });
      expect(task(run, 'call').error).toContain('404');
      expect(calls.get('/status/404/once')).toBe(1);
      expect(taskEvents(run, 'call').map((e) => `${e.status}@${e.attempt}`)).toEqual(['QUEUED@0', 'RUNNING@1', 'FAILED@1']);
    });

    it('a server that never answers fails the attempt once the step timeout passes', async () => {
      await register('http-timeout', [{ key: 'call', type: 'http', input: { url: `${base}/hang` }, timeoutMs: 200, retry: { maxAttempts: 1 } }]);
      const run = await runToEnd('http-timeout');

      expect(run.status).toBe('FAILED');
      const call = task(run, 'call');
      expect(call).toMatchObject({ status: 'FAILED', attempt: 1 });
      expect(call.error).toContain('timed out');
      expect(run.error).toContain('timed out');
      expect(ms(call.finishedAt) - ms(call.startedAt)).toBeGreaterThanOrEqual(200);
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('cancellation', () => {
    /**
     * When (and for when) a task was parked on its durable timer, from the engine's hooks. The
     * timer is not visible in the API, and cancelling before it is set would not test that the
     * timer cannot revive the run.
     */
    const spyOnTimers = () => {
      const seen = new Map<string, Date>();
      const waiters = new Map<string, (at: Date) => void>();
      const onParked = (e: { taskId: string; at: Date }) => {
        seen.set(e.taskId, e.at);
        waiters.get(e.taskId)?.(e.at);
      };
      t.app.hooks.on('timer:parked', onParked);
      return {
        /** The due time of task `id`'s timer, once set (also when it was set before this call). */
        timerOf: (id: string): Promise<Date> => (seen.has(id) ? Promise.resolve(seen.get(id)!) : new Promise<Date>((resolve) => waiters.set(id, resolve))),
        restore: () => {
          t.app.hooks.off('timer:parked', onParked);
        },
      };
    };

    it('cancelling during a long sleep cancels the run and its tasks for good', async () => {
      await register('cancel-sleep', [
        { key: 'nap', type: 'sleep', input: { ms: 1000 } },
        { key: 'after', type: 'noop', dependsOn: ['nap'], input: {} },
      ]);
      await register('cancel-probe', [{ key: 'nap', type: 'sleep', input: { ms: '{{ input.ms }}' } }]);

      const timers = spyOnTimers();
      let runId: string;
      let dueAt: Date;
      try {
        runId = await start('cancel-sleep');
        dueAt = await timers.timerOf(task(await read(runId), 'nap').id);
      } finally {
        timers.restore();
      }

      const { cancelRun } = await t.ok<{ cancelRun: RunView }>(CANCEL, { id: runId });
      expect(cancelRun.status).toBe('CANCELLED');
      expect(cancelRun.finishedAt).not.toBeNull();
      const cancelled = await read(runId);
      expect(cancelled.status).toBe('CANCELLED');
      expect(task(cancelled, 'nap')).toMatchObject({ status: 'CANCELLED', attempt: 1 });
      expect(task(cancelled, 'after')).toMatchObject({ status: 'CANCELLED', attempt: 0, startedAt: null });
      expect(cancelled.events.at(-1)).toMatchObject({ type: 'RUN_STATUS', status: 'CANCELLED' });
      expect(ms(cancelled.finishedAt)).toBeLessThan(dueAt.getTime());

      // Let the cancelled sleep's due time pass, measured by a later event of our own: a run whose
      // sleep is due after it. Timers fire in due order, so once that run finished, the old
      // timer would have fired too, had it survived the cancellation.
      const probe = await runToEnd('cancel-probe', { ms: Math.max(0, dueAt.getTime() - Date.now()) + 100 });
      expect(probe.status).toBe('SUCCEEDED');
      expect(ms(task(probe, 'nap').finishedAt)).toBeGreaterThan(dueAt.getTime());
      expect(await read(runId)).toEqual(cancelled);

      // Cancelling again changes nothing.
      const again = (await t.ok<{ cancelRun: RunView }>(CANCEL, { id: runId })).cancelRun;
      expect(again).toMatchObject({ status: 'CANCELLED', error: cancelled.error, finishedAt: cancelled.finishedAt });
      expect(await read(runId)).toEqual(cancelled);
    });

    const finishedRuns: { status: string; steps: StepSpec[] }[] = [
      { status: 'SUCCEEDED', steps: [{ key: 'only', type: 'noop', input: { v: 1 } }] },
      // A literal bad ms is refused at registration: this one comes from a template and fails at run time.
      {
        status: 'FAILED',
        steps: [
          { key: 'a', type: 'noop', input: { ms: -1 } },
          { key: 'only', type: 'sleep', dependsOn: ['a'], input: { ms: '{{ steps.a.output.ms }}' } },
        ],
      },
    ];
    it.each(finishedRuns)('cancelling a $status run returns it unchanged', async ({ status, steps }) => {
      const name = `cancel-finished-${status.toLowerCase()}`;
      await register(name, steps);
      const finished = await runToEnd(name);
      expect(finished.status).toBe(status);

      const { cancelRun } = await t.ok<{ cancelRun: RunView }>(CANCEL, { id: finished.id });
      expect(cancelRun).toEqual({
        id: finished.id,
        status,
        output: finished.output,
        error: finished.error,
        startedAt: finished.startedAt,
        finishedAt: finished.finishedAt,
      });
      expect(await read(finished.id)).toEqual(finished);
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('retry backoff', () => {
    it('waits at least the jittered minimum between attempts of a failing http step', async () => {
      const policy = { maxAttempts: 3, initialDelayMs: 100, backoffFactor: 2 };
      await register('backoff', [{ key: 'call', type: 'http', input: { url: `${base}/flaky/2/backoff-1` }, retry: policy }]);
      const run = await runToEnd('backoff');

      expect(run.status).toBe('SUCCEEDED');
      expect(task(run, 'call').attempt).toBe(3);
      expect(calls.get('/flaky/2/backoff-1')).toBe(3);

      const events = taskEvents(run, 'call');
      expect(events.map((e) => `${e.status}@${e.attempt}`)).toEqual(['QUEUED@0', 'RUNNING@1', 'QUEUED@1', 'RUNNING@2', 'QUEUED@2', 'RUNNING@3', 'SUCCEEDED@3']);
      const running = (attempt: number) => events.find((e) => e.status === 'RUNNING' && e.attempt === attempt)!;
      const requeued = (attempt: number) => events.find((e) => e.status === 'QUEUED' && e.attempt === attempt)!;
      for (const failed of [1, 2]) {
        const base = policy.initialDelayMs * policy.backoffFactor ** (failed - 1);
        const retry = requeued(failed);
        const retryInMs = retry.data.retryInMs as number;
        // The delay drawn is within ±20 % of initialDelayMs × backoffFactor^(attempt−1).
        expect(retryInMs).toBeGreaterThanOrEqual(0.8 * base);
        expect(retryInMs).toBeLessThanOrEqual(1.2 * base);
        // The next attempt was not claimed before the delay was over…
        const next = running(failed + 1);
        expect(ms(next.createdAt) - ms(retry.createdAt)).toBeGreaterThanOrEqual(retryInMs);
        expect(ms(next.createdAt) - ms(running(failed).createdAt)).toBeGreaterThanOrEqual(0.8 * base);
        // …nor long after it (the scheduler wakes for the retry instead of waiting for a poll
        // much later; 1500 ms of slack for a loaded CI machine).
        expect(ms(next.createdAt) - ms(retry.createdAt)).toBeLessThan(retryInMs + 1500);
      }
    });
  });
});
