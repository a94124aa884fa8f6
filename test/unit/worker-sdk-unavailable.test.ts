import { afterEach, describe, expect, it } from 'vitest';
import { ConductorClient } from '../../src/worker-sdk/client';
import { ConductorUnavailableError } from '../../src/worker-sdk/errors';
import { Worker } from '../../src/worker-sdk/worker';

/**
 * The worker SDK against a fake conductor (a `fetch` answering the protocol in memory) whose
 * database is down: its results are answered UNAVAILABLE (HTTP 503), while heartbeats, which touch
 * only the lease store, still get through. The result is kept and sent again with backoff until
 * it is recorded, or, if renewals stop getting through too, until the lease would lapse.
 */

const UNAVAILABLE = {
  errors: [
    {
      message: 'A dependency of the conductor (the database or Redis) is unavailable (ECONNREFUSED); retry after 1000 ms',
      extensions: { code: 'UNAVAILABLE', retryAfterMs: 1_000 },
    },
  ],
  data: null,
};

const TASK = {
  id: '6f1d7a3e-0000-4000-8000-000000000001',
  runId: '6f1d7a3e-0000-4000-8000-000000000002',
  key: 'work',
  type: 'job',
  attempt: 1,
  input: { n: 1 },
};

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A conductor in memory: one task to claim, then empty long polls; renewals and results as the test says. */
function fakeConductor(opts: { completeDownFor: number; renewDown?: boolean }) {
  const calls: { op: string; at: number }[] = [];
  let claimed = false;
  let completeFailures = 0;
  const fetchImpl: typeof fetch = async (_url, init) => {
    const body = JSON.parse(String(init?.body)) as { operationName: string; variables: Record<string, unknown> };
    calls.push({ op: body.operationName, at: performance.now() });
    switch (body.operationName) {
      case 'ClaimTasks': {
        if (!claimed) {
          claimed = true;
          return json({
            data: { claimTasks: [{ leaseToken: '7', leaseExpiresAt: new Date(Date.now() + 1_000).toISOString(), task: { ...TASK, traceparent: null } }] },
          });
        }
        // An empty long poll: held until the worker stops.
        await new Promise<void>((resolve) => init?.signal?.addEventListener('abort', () => resolve(), { once: true }));
        throw new DOMException('aborted', 'AbortError');
      }
      case 'RenewLease':
        if (opts.renewDown) return json(UNAVAILABLE, 503);
        return json({ data: { renewLease: { leaseExpiresAt: new Date(Date.now() + 1_000).toISOString() } } });
      case 'CompleteTask':
        if (completeFailures < opts.completeDownFor) {
          completeFailures++;
          return json(UNAVAILABLE, 503);
        }
        return json({ data: { completeTask: { id: TASK.id, status: 'SUCCEEDED' } } });
      default:
        return json({ errors: [{ message: `unexpected ${body.operationName}`, extensions: { code: 'BAD_USER_INPUT' } }] });
    }
  };
  return { fetchImpl, calls };
}

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
});

function worker(fetchImpl: typeof fetch, handler: () => unknown = () => ({ ok: true })): Worker {
  const w = new Worker({
    url: 'http://127.0.0.1:1/graphql',
    queue: 'q',
    handler,
    concurrency: 1,
    leaseMs: 1_000,
    pollWaitMs: 20_000,
    backoff: { initialDelayMs: 20, maxDelayMs: 100 },
    fetch: fetchImpl,
  });
  workers.push(w);
  return w;
}

describe('worker SDK: results while the conductor answers UNAVAILABLE', () => {
  it('the client reads an UNAVAILABLE answer as a retryable ConductorUnavailableError with retryAfterMs', async () => {
    const client = new ConductorClient({ url: 'http://127.0.0.1:1/graphql', fetch: async () => json(UNAVAILABLE, 503) });
    const error = await client.completeTask({ taskId: TASK.id, leaseToken: '7' }, null).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConductorUnavailableError);
    expect(error).toMatchObject({ code: 'UNAVAILABLE', retryable: true, status: 503, retryAfterMs: 1_000 });
    expect((error as Error).message).toMatch(/unavailable \(ECONNREFUSED\)/);
    // Also inside a 200 (a transport that cannot set the status, or a per-result outcome).
    const inBody = new ConductorClient({ url: 'http://127.0.0.1:1/graphql', fetch: async () => json(UNAVAILABLE, 200) });
    expect(await inBody.renewLease({ taskId: TASK.id, leaseToken: '7' }).catch((e: unknown) => e)).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
  });

  it('keeps the result and sends it again with backoff, heartbeating meanwhile, until it is recorded', async () => {
    const conductor = fakeConductor({ completeDownFor: 25 });
    const w = worker(conductor.fetchImpl);
    const done = new Promise<{ durationMs: number }>((resolve) => w.once('task:done', resolve));
    const abandoned: string[] = [];
    w.on('task:abandoned', (e) => abandoned.push(e.reason));
    w.start();
    await done;
    const completes = conductor.calls.filter((c) => c.op === 'CompleteTask');
    const renewals = conductor.calls.filter((c) => c.op === 'RenewLease' && c.at > completes[0]!.at);
    const spanMs = Math.round(completes.at(-1)!.at - completes[0]!.at);
    console.log(
      `[sdk-unavailable] result sent ${completes.length} times over ${spanMs} ms (25 × 503 UNAVAILABLE, then recorded); ${renewals.length} renewals meanwhile`,
    );
    expect(completes).toHaveLength(26);
    expect(abandoned).toEqual([]);
    // 25 retries at 10–100 ms each outlast the 1 s lease: only the renewals kept it.
    expect(spanMs).toBeGreaterThan(1_000);
    expect(renewals.length).toBeGreaterThan(0);
  });

  it('gives the result up once the lease would lapse with no renewal getting through (LEASE_LAPSED)', async () => {
    const conductor = fakeConductor({ completeDownFor: Number.POSITIVE_INFINITY, renewDown: true });
    const w = worker(conductor.fetchImpl);
    const abandoned = new Promise<{ reason: string }>((resolve) => w.once('task:abandoned', resolve));
    const startedAt = performance.now();
    w.start();
    expect((await abandoned).reason).toBe('LEASE_LAPSED');
    const elapsed = performance.now() - startedAt;
    const completes = conductor.calls.filter((c) => c.op === 'CompleteTask').length;
    console.log(
      `[sdk-unavailable] no renewal got through: result given up ${Math.round(elapsed)} ms after the claim (lease 1000 ms), after ${completes} tries`,
    );
    // Not before the lease lapses, and not long after (generous: a loaded machine).
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect(elapsed).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(conductor.calls.filter((c) => c.op === 'CompleteTask')).toHaveLength(completes);
  });
});
