import { restingTask } from '../../src/domain/resting-task';
import { describe, expect, it } from 'vitest';
import { decideLeaseExpired, decideRunDeadline, decideTimerFired } from '../../src/domain/decisions';
import { ConflictError, LimitExceededError, ValidationError } from '../../src/domain/errors';
import { DEFAULT_RETRY, type RunStatus, type StepDefinition, type TaskStatus, type WorkflowDefinition } from '../../src/domain/glossary';
import type { SignalRecord } from '../../src/domain/model';
import { applyTransition, IllegalTransitionError, type RunState, type TaskState, type Transition } from '../../src/domain/run-machine';
import { decideAwaitSignal, decidePause, decideResume, decideSignal, signalNames } from '../../src/domain/wait-decisions';

/** The wait decisions and the machine's pause, resume and awaitSignal transitions, table-driven and pure. */

const NOW = new Date('2030-01-01T00:00:00.000Z');
const later = (ms: number) => new Date(NOW.getTime() + ms);

function step(key: string, dependsOn: string[] = [], extra: Partial<StepDefinition> = {}): StepDefinition {
  return { key, type: 'noop', queue: null, dependsOn, input: null, retry: { ...DEFAULT_RETRY, maxAttempts: 1 }, timeoutMs: null, ...extra };
}

/** gate (signal "approve") → after; plus a queue step of type "signal" that is not a signal step. */
const DEFINITION: WorkflowDefinition = {
  description: null,
  timeoutMs: null,
  steps: [
    step('gate', [], { type: 'signal', input: { name: 'approve', timeoutMs: 1000 } }),
    step('after', ['gate']),
    step('remote', [], { type: 'signal', queue: 'q', input: { name: 'not-mine' } }),
  ],
};

function task(key: string, status: TaskStatus, extra: Partial<TaskState> = {}): TaskState {
  const running = status === 'RUNNING';
  return restingTask({
    id: `t-${key}`,
    key,
    status,
    attempt: running ? 1 : 0,
    fence: running ? '1' : '0',
    workerId: running ? 'conductor:x' : null,
    startedAt: running ? NOW : null,
    ...extra,
  });
}

function run(status: RunStatus, extra: Partial<RunState> = {}): RunState {
  return { id: 'r1', status, input: {}, output: null, error: null, startedAt: NOW, finishedAt: null, deadlineAt: null, pausedAt: null, ...extra };
}

function apply(r: RunState, tasks: TaskState[], transition: Transition) {
  return applyTransition({ definition: DEFINITION, run: r, tasks, now: NOW, random: () => 0.5, newSecret: () => 's', newId: () => 'new-id' }, transition);
}

function signal(n: number, seq: string): SignalRecord {
  return { id: `s${n}`, tenantId: 't', runId: 'r1', name: 'approve', payload: { n }, createdAt: NOW, seq, consumedByTaskId: null, consumedAt: null };
}

describe('signalNames', () => {
  it('lists the names of built-in signal steps only', () => {
    expect(signalNames(DEFINITION)).toEqual(['approve']);
  });
});

describe('decideSignal', () => {
  const parked = task('gate', 'RUNNING', { signalName: 'approve', timerAt: later(1000) });

  it('delivers to the parked step, keeps it otherwise', () => {
    expect(decideSignal(run('RUNNING'), DEFINITION, [parked, task('after', 'PENDING')], 'approve', { ok: 1 }, 0)).toEqual({
      deliver: { taskId: 't-gate', transition: { kind: 'succeeded', taskId: 't-gate', output: { ok: 1 } } },
    });
    // Claimed but not parked yet (the executor is on its way): kept, the wait takes it.
    expect(decideSignal(run('RUNNING'), DEFINITION, [task('gate', 'RUNNING')], 'approve', null, 0)).toEqual({ keep: true });
    expect(decideSignal(run('PAUSED'), DEFINITION, [task('gate', 'PENDING')], 'approve', null, 99)).toEqual({ keep: true });
  });

  it.each([
    ['a finished run', run('SUCCEEDED'), 'approve', 0, ConflictError, /is SUCCEEDED/],
    ['an unknown name', run('RUNNING'), 'nope', 0, ValidationError, /"nope".*"approve"/],
    ['a queue step named alike', run('RUNNING'), 'not-mine', 0, ValidationError, /"not-mine"/],
    ['too many pending', run('RUNNING'), 'approve', 100, LimitExceededError, /MAX_PENDING_SIGNALS_PER_RUN is 100/],
  ] as const)('refuses %s', (_case, r, name, pending, type, message) => {
    expect(() => decideSignal(r, DEFINITION, [task('gate', 'PENDING')], name, null, pending)).toThrow(type);
    expect(() => decideSignal(r, DEFINITION, [task('gate', 'PENDING')], name, null, pending)).toThrow(message);
  });
});

describe('decideAwaitSignal', () => {
  const running = task('gate', 'RUNNING');

  it('takes the first pending signal of its name in send order', () => {
    const decision = decideAwaitSignal(running, '1', 'approve', later(1000), [signal(2, '10'), signal(1, '9')]);
    expect(decision).toMatchObject({ consume: { id: 's1' }, transition: { kind: 'succeeded', output: { n: 1 } } });
  });

  it('parks without a pending signal, and not twice; a stale attempt does nothing', () => {
    expect(decideAwaitSignal(running, '1', 'approve', null, [])).toEqual({
      transition: { kind: 'awaitSignal', taskId: 't-gate', name: 'approve', timeoutAt: null },
    });
    expect(decideAwaitSignal({ ...running, signalName: 'approve' }, '1', 'approve', null, [])).toBeNull();
    expect(decideAwaitSignal(running, '2', 'approve', null, [])).toBeNull();
    expect(decideAwaitSignal(task('gate', 'CANCELLED'), '0', 'approve', null, [])).toBeNull();
  });
});

describe('a parked signal step', () => {
  const parked = task('gate', 'RUNNING', { signalName: 'approve', timerAt: later(1000) });

  it('parks through the machine: no event, name and timeout kept', () => {
    const result = apply(run('RUNNING'), [task('gate', 'RUNNING'), task('after', 'PENDING')], {
      kind: 'awaitSignal',
      taskId: 't-gate',
      name: 'approve',
      timeoutAt: later(1000),
    });
    expect(result.events).toEqual([]);
    expect(result.tasks).toEqual([expect.objectContaining({ id: 't-gate', status: 'RUNNING', signalName: 'approve', timerAt: later(1000) })]);
  });

  it('times out as a failure of the step; its lease cannot expire', () => {
    expect(decideTimerFired(parked, '1')).toMatchObject({
      kind: 'failed',
      failure: 'TIMED_OUT',
      retryable: true,
      error: expect.stringMatching(/No signal "approve"/),
    });
    expect(decideLeaseExpired({ ...parked, timerAt: null }, '1')).toBeNull();
  });

  it('forgets the name once it leaves RUNNING', () => {
    const result = apply(run('RUNNING'), [parked, task('after', 'PENDING'), task('remote', 'QUEUED')], { kind: 'succeeded', taskId: 't-gate', output: 1 });
    expect(result.tasks.find((t) => t.id === 't-gate')).toMatchObject({ status: 'SUCCEEDED', signalName: null, timerAt: null });
  });
});

describe('pause and resume', () => {
  it('decides: pause twice is one, finished runs conflict, resume of a running run is nothing', () => {
    expect(decidePause(run('RUNNING'))).toEqual({ kind: 'pause' });
    expect(decidePause(run('PENDING'))).toEqual({ kind: 'pause' });
    expect(decidePause(run('PAUSED'))).toBeNull();
    expect(() => decidePause(run('CANCELLED'))).toThrow(ConflictError);
    expect(decideResume(run('PAUSED'))).toEqual({ kind: 'resume' });
    expect(decideResume(run('RUNNING'))).toBeNull();
    expect(() => decideResume(run('FAILED'))).toThrow(/only a PAUSED run can be resumed/);
  });

  it('pauses: PAUSED with its time and event; the machine refuses eager claims', () => {
    const result = apply(run('RUNNING'), [task('gate', 'QUEUED', { availableAt: NOW })], { kind: 'pause' });
    expect(result.run).toMatchObject({ status: 'PAUSED', pausedAt: NOW });
    expect(result.events).toEqual([expect.objectContaining({ type: 'run.status', status: 'PAUSED' })]);
    expect(() => apply(run('PAUSED'), [task('gate', 'QUEUED', { availableAt: NOW })], { kind: 'claim', taskIds: ['t-gate'], workerId: 'w' })).toThrow(
      IllegalTransitionError,
    );
  });

  it('keeps a result that arrives while paused, and starts its dependents only on resume', () => {
    const paused = run('PAUSED', { pausedAt: later(-500) });
    const done = apply(paused, [task('gate', 'RUNNING'), task('after', 'PENDING'), task('remote', 'SUCCEEDED')], {
      kind: 'succeeded',
      taskId: 't-gate',
      output: 1,
    });
    expect(done.run).toBeNull();
    expect(done.tasks.map((t) => [t.key, t.status])).toEqual([['gate', 'SUCCEEDED']]);
    const resumed = apply(paused, [task('gate', 'SUCCEEDED', { output: 1 }), task('after', 'PENDING'), task('remote', 'SUCCEEDED')], { kind: 'resume' });
    expect(resumed.run).toMatchObject({ status: 'RUNNING', pausedAt: null });
    expect(resumed.tasks.map((t) => [t.key, t.status])).toEqual([['after', 'QUEUED']]);
    expect(resumed.events[0]).toMatchObject({ type: 'run.status', status: 'RUNNING', data: { resumed: true, pausedMs: 500 } });
  });

  it('times a paused run out: its own deadline keeps counting', () => {
    const paused = run('PAUSED', { deadlineAt: NOW, pausedAt: later(-10) });
    const transition = decideRunDeadline(paused, NOW);
    expect(transition).toMatchObject({ kind: 'runTimedOut' });
    const result = apply(paused, [task('gate', 'RUNNING', { signalName: 'approve' }), task('after', 'PENDING'), task('remote', 'QUEUED')], transition!);
    expect(result.run).toMatchObject({ status: 'FAILED' });
    expect(result.tasks.every((t) => t.status === 'CANCELLED' && t.signalName === null)).toBe(true);
  });

  it('resumes a run paused before any claim to PENDING', () => {
    const result = apply(
      run('PAUSED', { startedAt: null, pausedAt: NOW }),
      [task('gate', 'QUEUED', { availableAt: NOW }), task('after', 'PENDING'), task('remote', 'QUEUED')],
      {
        kind: 'resume',
      },
    );
    expect(result.run?.status).toBe('PENDING');
  });
});
