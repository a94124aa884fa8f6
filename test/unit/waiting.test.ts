import { describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../src/domain/glossary';
import { waitReasonOf, type WaitInput, type WaitTask } from '../../src/domain/waiting';
import { KeyedThrottle } from '../../src/primitives/keyed-throttle';

const NOW = new Date('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(NOW.getTime() + ms);

const task = (over: Partial<WaitTask> = {}): WaitTask => ({
  id: 't1',
  key: 'b',
  type: 'work',
  queue: 'q',
  status: 'QUEUED',
  attempt: 0,
  error: null,
  workerId: null,
  availableAt: at(-5_000),
  deadlineAt: null,
  timerAt: null,
  signalName: null,
  childRunId: null,
  parentTaskId: null,
  itemCount: null,
  itemsLeft: null,
  itemsActive: null,
  createdAt: at(-60_000),
  queuedAt: at(-5_000),
  startedAt: null,
  rateLimitKey: null,
  rateLimitedUntil: null,
  ...over,
});

const input = (over: Partial<WaitInput> = {}): WaitInput => ({
  task: task(),
  runStatus: 'RUNNING',
  runPausedAt: null,
  dependsOn: [],
  statusByKey: new Map(),
  poll: undefined,
  leaseExpiresAt: null,
  now: NOW,
  noWorkerAfterMs: 30_000,
  ...over,
});

const poll = (agoMs: number) => ({ tenantId: 'x', queue: 'q', lastPolledAt: at(-agoMs), workerId: 'w-1' });

describe('waitReasonOf', () => {
  it.each<[string, Partial<WaitInput>, Record<string, unknown> | null]>([
    ['SUCCEEDED waits for nothing', { task: task({ status: 'SUCCEEDED' }) }, null],
    ['FAILED waits for nothing', { task: task({ status: 'FAILED' }) }, null],
    ['CANCELLED waits for nothing', { task: task({ status: 'CANCELLED' }) }, null],
    [
      'PENDING: the dependencies not yet succeeded, in dependsOn order',
      {
        task: task({ status: 'PENDING', queuedAt: null }),
        dependsOn: ['c', 'a', 'd'],
        statusByKey: new Map<string, TaskStatus>([
          ['a', 'RUNNING'],
          ['c', 'QUEUED'],
          ['d', 'SUCCEEDED'],
        ]),
      },
      { kind: 'DEPENDENCIES', stepKeys: ['c', 'a'], since: at(-60_000) },
    ],
    ['QUEUED, queue never polled: NO_WORKER', {}, { kind: 'NO_WORKER', queue: 'q', lastPolledAt: null, lastWorkerId: null }],
    ['QUEUED, last poll exactly N ago: NO_WORKER', { poll: poll(30_000) }, { kind: 'NO_WORKER', lastPolledAt: at(-30_000), lastWorkerId: 'w-1' }],
    ['QUEUED, polled within N: DISPATCH', { poll: poll(29_999) }, { kind: 'DISPATCH', queue: 'q', lastPolledAt: at(-29_999) }],
    ['QUEUED built-in: DISPATCH', { task: task({ queue: null }) }, { kind: 'DISPATCH', queue: null, lastPolledAt: null, since: at(-5_000) }],
    [
      'QUEUED with availableAt ahead: RETRY_BACKOFF, whatever the polls',
      { task: task({ availableAt: at(1), attempt: 2, error: 'boom' }), poll: poll(1) },
      { kind: 'RETRY_BACKOFF', until: at(1), error: 'boom', attempt: 2 },
    ],
    ['QUEUED with availableAt now: claimable', { task: task({ availableAt: NOW }), poll: poll(1) }, { kind: 'DISPATCH' }],
    [
      'QUEUED held back by its rate limit: RATE_LIMIT with the key and the eligible time',
      { task: task({ availableAt: at(250), rateLimitKey: 'openai', rateLimitedUntil: at(250) }), poll: poll(1) },
      { kind: 'RATE_LIMIT', key: 'openai', until: at(250), since: at(-5_000) },
    ],
    [
      'QUEUED in a retry delay after a rate-limit wait long past: RETRY_BACKOFF',
      { task: task({ availableAt: at(900), rateLimitKey: 'openai', rateLimitedUntil: at(-3_000), attempt: 1, error: 'boom' }), poll: poll(1) },
      { kind: 'RETRY_BACKOFF', until: at(900) },
    ],
    [
      'QUEUED rate-limited task claimable now: DISPATCH',
      { task: task({ availableAt: at(-1), rateLimitKey: 'openai', rateLimitedUntil: at(-1) }), poll: poll(1) },
      { kind: 'DISPATCH' },
    ],
    [
      'RUNNING: WORKER with the lease expiry and deadline',
      { task: task({ status: 'RUNNING', workerId: 'w-2', startedAt: at(-1), deadlineAt: at(9_000) }), leaseExpiresAt: at(20_000) },
      { kind: 'WORKER', workerId: 'w-2', leaseExpiresAt: at(20_000), deadlineAt: at(9_000), since: at(-1) },
    ],
    [
      'RUNNING sleep on its timer: SLEEP',
      { task: task({ status: 'RUNNING', type: 'sleep', queue: null, workerId: 'conductor:r', timerAt: at(1_500), startedAt: at(-1) }) },
      { kind: 'SLEEP', until: at(1_500), since: at(-1) },
    ],
    [
      'RUNNING signal step: SIGNAL with its name and timeout',
      { task: task({ status: 'RUNNING', type: 'signal', queue: null, signalName: 'approve', timerAt: at(60_000), startedAt: at(-1) }) },
      { kind: 'SIGNAL', name: 'approve', until: at(60_000), since: at(-1) },
    ],
    [
      'RUNNING signal step without timeout: SIGNAL until null',
      { task: task({ status: 'RUNNING', type: 'signal', queue: null, signalName: 'approve' }) },
      { kind: 'SIGNAL', name: 'approve', until: null },
    ],
    [
      'PAUSED run, QUEUED: RUN_PAUSED since the pause',
      { runStatus: 'PAUSED', runPausedAt: at(-7), poll: poll(1) },
      { kind: 'RUN_PAUSED', pausedAt: at(-7), since: at(-7) },
    ],
    [
      'PAUSED run, PENDING: RUN_PAUSED',
      { runStatus: 'PAUSED', runPausedAt: at(-7), task: task({ status: 'PENDING' }), dependsOn: ['a'] },
      { kind: 'RUN_PAUSED' },
    ],
    [
      'PAUSED run, a running attempt finishes: WORKER',
      { runStatus: 'PAUSED', runPausedAt: at(-7), task: task({ status: 'RUNNING', workerId: 'w-2' }) },
      { kind: 'WORKER' },
    ],
    [
      'PAUSED run, a signal wait still takes signals: SIGNAL',
      { runStatus: 'PAUSED', runPausedAt: at(-7), task: task({ status: 'RUNNING', type: 'signal', signalName: 'go' }) },
      { kind: 'SIGNAL', name: 'go' },
    ],
    [
      'PAUSED run, sleep not due yet: SLEEP',
      { runStatus: 'PAUSED', runPausedAt: at(-7), task: task({ status: 'RUNNING', type: 'sleep', timerAt: at(1) }) },
      { kind: 'SLEEP', until: at(1) },
    ],
    [
      'PAUSED run, sleep due: fires on resume, RUN_PAUSED',
      { runStatus: 'PAUSED', runPausedAt: at(-7), task: task({ status: 'RUNNING', type: 'sleep', timerAt: NOW }) },
      { kind: 'RUN_PAUSED', pausedAt: at(-7) },
    ],
    [
      'RUNNING workflow step: CHILD_RUN, paused or not',
      { runStatus: 'PAUSED', task: task({ status: 'RUNNING', type: 'workflow', queue: null, childRunId: 'c1', workerId: 'child-run:c1', startedAt: at(-3) }) },
      { kind: 'CHILD_RUN', childRunId: 'c1', since: at(-3) },
    ],
    [
      "RUNNING forEach step's own task: ITEMS",
      { task: task({ status: 'RUNNING', type: 'noop', queue: null, itemCount: 10, itemsLeft: 4, itemsActive: 2, startedAt: at(-9) }) },
      { kind: 'ITEMS', itemCount: 10, itemsLeft: 4, itemsActive: 2, since: at(-9) },
    ],
    [
      'PENDING item of a forEach step: CONCURRENCY under its maxConcurrency',
      { task: task({ status: 'PENDING', parentTaskId: 'fan' }), maxConcurrency: 2 },
      { kind: 'CONCURRENCY', limit: 'maxConcurrency', max: 2, since: at(-60_000) },
    ],
    ['SKIPPED: finished, waits for nothing', { task: task({ status: 'SKIPPED' }) }, null],
    [
      'PENDING after a skipped dependency and a pending one: waits for the pending one only',
      {
        task: task({ status: 'PENDING' }),
        dependsOn: ['a', 'c'],
        statusByKey: new Map<string, TaskStatus>([
          ['a', 'SKIPPED'],
          ['c', 'RUNNING'],
        ]),
      },
      { kind: 'DEPENDENCIES', stepKeys: ['c'] },
    ],
  ])('%s', (_name, over, expected) => {
    const reason = waitReasonOf(input(over));
    if (expected === null) expect(reason).toBeNull();
    else expect(reason).toMatchObject({ taskId: 't1', taskKey: 'b', ...expected });
  });
});

describe('KeyedThrottle', () => {
  it('lets a key through once per interval, keys apart, and again after a reset', () => {
    const t = new KeyedThrottle(1_000);
    expect(t.tryPass('a', 0)).toBe(true);
    expect(t.tryPass('a', 999)).toBe(false);
    expect(t.tryPass('b', 999)).toBe(true);
    expect(t.tryPass('a', 1_000)).toBe(true);
    t.reset('a');
    expect(t.tryPass('a', 1_001)).toBe(true);
    // A clock that went back does not lock the key out.
    expect(t.tryPass('a', 0)).toBe(true);
  });

  it('forgets the least recently passed key past its bound', () => {
    const t = new KeyedThrottle(1_000, 2);
    t.tryPass('a', 0);
    t.tryPass('b', 0);
    t.tryPass('c', 0);
    expect(t.tryPass('a', 1)).toBe(true);
    expect(t.tryPass('c', 1)).toBe(false);
  });
});
