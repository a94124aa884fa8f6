import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * "Why is it stuck?" observed on real runs through the API, one kind after the other, on a manual
 * clock: DEPENDENCIES, NO_WORKER (never polled, then polled too long ago), DISPATCH (polled, not
 * claimed yet), WORKER (with the lease's expiry), RETRY_BACKOFF (until when, after which error),
 * SLEEP (until when); and none once the run has finished.
 */
const QUEUE = 'stuck-q';
const NO_WORKER_AFTER_MS = 30_000;
const BACKOFF_MS = 60_000;
const SLEEP_MS = 5_000;
const HOUR = 3_600_000;
const SIGNAL_TIMEOUT_MS = 600_000;
const ITEMS_QUEUE = 'items-q';

const WAIT = `kind taskId taskKey since until
  ... on DependenciesWait { stepKeys }
  ... on NoWorkerWait { queue lastPolledAt lastWorkerId }
  ... on DispatchWait { queue lastPolledAt }
  ... on WorkerWait { workerId leaseExpiresAt deadlineAt }
  ... on RetryBackoffWait { error attempt }
  ... on SignalWait { name }
  ... on ChildRunWait { childRunId }
  ... on ItemsWait { itemCount itemsLeft itemsActive }
  ... on ConcurrencyWait { limit max }
  ... on RunPausedWait { pausedAt }`;
const RUN = `query($id: ID!) { run(id: $id) { id status waitingFor { ${WAIT} } tasks { key status waitingFor { ${WAIT} } } } }`;
const START = `mutation($wf: String!) { startRun(workflow: $wf) { id } }`;
const CLAIM = `mutation($queue: String!, $max: Int) {
  claimTasks(queue: $queue, workerId: "w-1", max: $max, leaseMs: ${HOUR}) { leaseToken leaseExpiresAt task { id runId key } }
}`;
const FAIL = `mutation($id: ID!, $token: String!) { failTask(taskId: $id, leaseToken: $token, error: "disk full", retryable: true) { status } }`;
const COMPLETE = `mutation($id: ID!, $token: String!) { completeTask(taskId: $id, leaseToken: $token, output: { ok: true }) { status } }`;

type Wait = Record<string, unknown> & { kind: string; taskKey: string };
interface RunView {
  id: string;
  status: string;
  waitingFor: Wait[];
  tasks: { key: string; status: string; waitingFor: Wait | null }[];
}

describe('waitingFor on real runs', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date());
  const iso = (ms = 0) => new Date(clock.now().getTime() + ms).toISOString();
  const read = async (id: string) => (await t.ok<{ run: RunView }>(RUN, { id })).run;
  const start = async (wf: string) => (await t.ok<{ startRun: { id: string } }>(START, { wf })).startRun.id;
  const claim = async (max = 1) =>
    (
      await t.ok<{ claimTasks: { leaseToken: string; leaseExpiresAt: string; task: { id: string; runId: string; key: string } }[] }>(CLAIM, {
        queue: QUEUE,
        max,
      })
    ).claimTasks;

  beforeAll(async () => {
    // Passes every 5 s of the manual clock, not every 200 ms: advancing it a minute runs 12 of them,
    // not 300 (embedded, that was 25 s of the first test). Wake-ups still fire timers on time.
    t = await startTestApp({
      clock,
      env: { NO_WORKER_AFTER_MS: String(NO_WORKER_AFTER_MS), SCHEDULER_POLL_INTERVAL_MS: '5000', REAPER_INTERVAL_MS: '5000' },
    });
    await t.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`, {
      input: {
        name: 'stuck',
        steps: [
          { key: 'fetch', type: 'fetch', queue: QUEUE, retry: { maxAttempts: 3, initialDelayMs: BACKOFF_MS, backoffFactor: 1, maxDelayMs: BACKOFF_MS } },
          { key: 'report', type: 'noop', dependsOn: ['fetch'] },
        ],
      },
    });
    await t.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`, {
      input: {
        name: 'gate',
        steps: [
          { key: 'gate', type: 'signal', input: { name: 'approve', timeoutMs: SIGNAL_TIMEOUT_MS } },
          { key: 'after', type: 'noop', dependsOn: ['gate'] },
        ],
      },
    });
    await t.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`, {
      input: { name: 'parent', steps: [{ key: 'call', type: 'workflow', input: { workflow: 'gate' } }] },
    });
    await t.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`, {
      input: { name: 'fan', steps: [{ key: 'each', type: 'fetch', queue: ITEMS_QUEUE, forEach: '[1, 2, 3]', maxConcurrency: 2, input: { n: '{{ item }}' } }] },
    });
    await t.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`, {
      input: { name: 'nap', steps: [{ key: 'nap', type: 'sleep', input: { ms: SLEEP_MS } }] },
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('DEPENDENCIES, NO_WORKER, WORKER, DISPATCH, NO_WORKER again, RETRY_BACKOFF, then nothing once finished', async () => {
    const first = await start('stuck');
    let run = await read(first);
    // Nobody ever polled the queue.
    expect(run.waitingFor).toEqual([
      { kind: 'NO_WORKER', taskId: expect.any(String), taskKey: 'fetch', since: iso(), until: null, queue: QUEUE, lastPolledAt: null, lastWorkerId: null },
      { kind: 'DEPENDENCIES', taskId: expect.any(String), taskKey: 'report', since: iso(), until: null, stepKeys: ['fetch'] },
    ]);
    // Task.waitingFor says the same, task by task.
    expect(run.tasks.map((x) => x.waitingFor)).toEqual(run.waitingFor);
    // And the gauge an operator alerts on counts it.
    expect(await t.scrape()).toMatch(new RegExp(`^maestro_queue_no_worker_tasks\\{queue="${QUEUE}"\\} 1$`, 'm'));

    // A worker polls and claims it: held by w-1 until the lease's expiry.
    const [lease] = await claim();
    expect(lease!.task.runId).toBe(first);
    run = await read(first);
    expect(run.waitingFor[0]).toEqual({
      kind: 'WORKER',
      taskId: lease!.task.id,
      taskKey: 'fetch',
      since: iso(),
      until: null,
      workerId: 'w-1',
      leaseExpiresAt: lease!.leaseExpiresAt,
      deadlineAt: null,
    });
    expect(run.waitingFor[1]).toMatchObject({ kind: 'DEPENDENCIES', stepKeys: ['fetch'] });

    // A second run while the queue was polled just now: claimable, waiting for a worker with room.
    const second = await start('stuck');
    const polledAt = iso();
    expect((await read(second)).waitingFor[0]).toMatchObject({ kind: 'DISPATCH', taskKey: 'fetch', queue: QUEUE, lastPolledAt: polledAt });
    // No poll for NO_WORKER_AFTER_MS: nobody serves the queue any more, and the answer says since when.
    await clock.advance(NO_WORKER_AFTER_MS - 1);
    expect((await read(second)).waitingFor[0]).toMatchObject({ kind: 'DISPATCH' });
    await clock.advance(1);
    expect((await read(second)).waitingFor[0]).toMatchObject({ kind: 'NO_WORKER', queue: QUEUE, lastPolledAt: polledAt, lastWorkerId: 'w-1' });

    // The first attempt fails: the retry waits out its backoff, and says after which error.
    await t.ok(FAIL, { id: lease!.task.id, token: lease!.leaseToken });
    run = await read(first);
    const backoff = run.waitingFor[0]!;
    expect(backoff).toMatchObject({ kind: 'RETRY_BACKOFF', taskKey: 'fetch', error: 'disk full', attempt: 1, since: iso() });
    // Jittered ±20 % around the delay, never above maxDelayMs.
    const delay = new Date(backoff['until'] as string).getTime() - clock.now().getTime();
    console.log(`retry backoff: ${delay} ms (policy ${BACKOFF_MS} ms, jitter ±20 %)`);
    expect(delay).toBeGreaterThanOrEqual(BACKOFF_MS * 0.8);
    expect(delay).toBeLessThanOrEqual(BACKOFF_MS);

    // Past the backoff the worker takes both runs' tasks; once they succeed nothing waits.
    await clock.advance(BACKOFF_MS);
    const leases = await claim(10);
    expect(leases.map((l) => l.task.runId).sort()).toEqual([first, second].sort());
    for (const l of leases) await t.ok(COMPLETE, { id: l.task.id, token: l.leaseToken });
    for (const id of [first, second]) {
      const done = await waitForRun(t, id);
      expect(done.status).toBe('SUCCEEDED');
      const view = await read(id);
      expect(view.waitingFor).toEqual([]);
      expect(view.tasks.map((x) => x.waitingFor)).toEqual([null, null]);
    }
  }, 120_000);

  it('SLEEP: a sleep step waits for its durable timer', async () => {
    const claimed = new Promise<void>((resolve) => {
      const onClaimed = () => {
        t.app.hooks.off('task:claimed', onClaimed);
        resolve();
      };
      t.app.hooks.on('task:claimed', onClaimed);
    });
    const id = await start('nap');
    await claimed;
    // The attempt parks on its timer right after the claim, in its own transition.
    let wait: Wait | undefined;
    for (let i = 0; i < 200 && wait?.kind !== 'SLEEP'; i++) {
      wait = (await read(id)).waitingFor[0];
      if (wait?.kind !== 'SLEEP') await new Promise((r) => setImmediate(r));
    }
    expect(wait).toMatchObject({ kind: 'SLEEP', taskKey: 'nap', until: iso(SLEEP_MS), since: iso() });
    await clock.advance(SLEEP_MS);
    expect((await waitForRun(t, id)).status).toBe('SUCCEEDED');
    expect((await read(id)).waitingFor).toEqual([]);
  });

  /** Reads the run until its first wait is of `kind`: a built-in attempt parks in a transition of its own, right after its claim. */
  const untilFirst = async (id: string, kind: string): Promise<RunView> => {
    let run = await read(id);
    for (let i = 0; i < 500 && run.waitingFor[0]?.kind !== kind; i++) {
      await new Promise((r) => setImmediate(r));
      run = await read(id);
    }
    return run;
  };

  it('SIGNAL, then RUN_PAUSED while paused (the signal wait goes on), then nothing once resumed and finished', async () => {
    const id = await start('gate');
    let run = await untilFirst(id, 'SIGNAL');
    expect(run.waitingFor).toEqual([
      { kind: 'SIGNAL', taskId: expect.any(String), taskKey: 'gate', since: iso(), until: iso(SIGNAL_TIMEOUT_MS), name: 'approve' },
      { kind: 'DEPENDENCIES', taskId: expect.any(String), taskKey: 'after', since: iso(), until: null, stepKeys: ['gate'] },
    ]);

    const pausedAt = (await t.ok<{ pauseRun: { pausedAt: string } }>(`mutation($id: ID!) { pauseRun(id: $id) { pausedAt } }`, { id })).pauseRun.pausedAt;
    run = await read(id);
    expect(run.status).toBe('PAUSED');
    // A paused run still takes signals: the signal step keeps waiting for one; what follows waits for the resume.
    expect(run.waitingFor.map((w) => w.kind)).toEqual(['SIGNAL', 'RUN_PAUSED']);
    expect(run.waitingFor[1]).toEqual({ kind: 'RUN_PAUSED', taskId: expect.any(String), taskKey: 'after', since: pausedAt, until: null, pausedAt });

    await t.ok(`mutation($id: ID!) { signalRun(id: $id, name: "approve", payload: { ok: true }) { id } }`, { id });
    run = await read(id);
    expect(run.tasks.map((x) => x.status)).toEqual(['SUCCEEDED', expect.stringMatching(/^(PENDING|QUEUED)$/)]);
    expect(run.waitingFor).toEqual([{ kind: 'RUN_PAUSED', taskId: expect.any(String), taskKey: 'after', since: pausedAt, until: null, pausedAt }]);

    await t.ok(`mutation($id: ID!) { resumeRun(id: $id) { id } }`, { id });
    expect((await waitForRun(t, id)).status).toBe('SUCCEEDED');
    expect((await read(id)).waitingFor).toEqual([]);
  });

  it('CHILD_RUN: a workflow step waits for its child run, whose own waitingFor says why', async () => {
    const id = await start('parent');
    const run = await untilFirst(id, 'CHILD_RUN');
    const wait = run.waitingFor[0]!;
    expect(wait).toMatchObject({ kind: 'CHILD_RUN', taskKey: 'call', since: iso(), until: null, childRunId: expect.any(String) });
    const child = await untilFirst(wait['childRunId'] as string, 'SIGNAL');
    expect(child.waitingFor.map((w) => w.kind)).toEqual(['SIGNAL', 'DEPENDENCIES']);
    await t.ok(`mutation($id: ID!) { signalRun(id: $id, name: "approve") { id } }`, { id: child.id });
    expect((await waitForRun(t, id)).status).toBe('SUCCEEDED');
    expect((await read(id)).waitingFor).toEqual([]);
  });

  it('ITEMS: a forEach step waits for its items; an item over maxConcurrency waits for a place (CONCURRENCY)', async () => {
    const id = await start('fan');
    const run = await read(id);
    const kinds = run.waitingFor.map((w) => [w.kind, w.taskKey]);
    expect(kinds).toEqual([
      ['ITEMS', 'each'],
      ['NO_WORKER', 'each'],
      ['NO_WORKER', 'each'],
      ['CONCURRENCY', 'each'],
    ]);
    expect(run.waitingFor[0]).toMatchObject({ kind: 'ITEMS', itemCount: 3, itemsLeft: 3, itemsActive: 2 });
    expect(run.waitingFor[3]).toMatchObject({ kind: 'CONCURRENCY', limit: 'maxConcurrency', max: 2 });
    await t.ok(`mutation($id: ID!) { cancelRun(id: $id) { id } }`, { id });
    expect((await read(id)).waitingFor).toEqual([]);
  });

  it('a page of runs with waitingFor costs the same statements for 2 runs as for 8', async () => {
    for (let i = 0; i < 8; i++) await start('stuck');
    // The last poll (test one's) is older than NO_WORKER_AFTER_MS: every run's first task has NO_WORKER.
    await clock.advance(NO_WORKER_AFTER_MS);
    const PAGE = `query($n: Int!) { runs(first: $n, filter: { workflow: "stuck" }) { nodes { id waitingFor { ${WAIT} } tasks { waitingFor { kind } } } } }`;
    const count = async (n: number) => {
      const query = vi.spyOn(pg.Client.prototype, 'query');
      try {
        const page = await t.ok<{ runs: { nodes: RunView[] } }>(PAGE, { n });
        expect(page.runs.nodes).toHaveLength(n);
        for (const node of page.runs.nodes) expect(node.waitingFor.map((w) => w.kind)).toEqual(['NO_WORKER', 'DEPENDENCIES']);
        return query.mock.calls.length;
      } finally {
        query.mockRestore();
      }
    };
    await count(2); // warm: prepared statements, workflow cache
    const small = await count(2);
    const large = await count(8);
    console.log(`statements for a page with waitingFor: ${small} (2 runs), ${large} (8 runs)`);
    expect(large).toBe(small);
  }, 120_000);
});
