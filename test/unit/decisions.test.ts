import { restingTask } from '../../src/domain/resting-task';
import { describe, expect, it } from 'vitest';
import {
  decideAttemptTimedOut,
  decideCancel,
  decideLeaseExpired,
  decideResult,
  decideRetry,
  decideRunDeadline,
  decideTimerFired,
  type AttemptResult,
} from '../../src/domain/decisions';
import { ConflictError, LeaseLostError, RunCancelledError } from '../../src/domain/errors';
import type { RunStatus, TaskStatus } from '../../src/domain/glossary';
import type { TaskState } from '../../src/domain/run-machine';

const NOW = new Date('2030-01-01T00:00:00.000Z');

function task(status: TaskStatus, extra: Partial<TaskState> = {}): TaskState & { timeoutMs: number | null } {
  return restingTask({
    id: 't1',
    key: 'a',
    status,
    attempt: 2,
    failures: 1,
    fence: '7',
    input: { in: 1 },
    workerId: 'w',
    startedAt: NOW,
    timeoutMs: 500,
    ...extra,
  });
}
const run = (status: RunStatus) => ({ id: 'r1', status });

describe('decideResult: a holder reports its attempt', () => {
  const ok: AttemptResult = { kind: 'succeeded', output: 1 };
  it.each<{
    name: string;
    run: RunStatus;
    task: TaskState;
    fence: string;
    result: AttemptResult;
    answer: 'transition' | 'unchanged' | typeof LeaseLostError | typeof RunCancelledError;
  }>([
    { name: 'the current holder succeeds', run: 'RUNNING', task: task('RUNNING'), fence: '7', result: ok, answer: 'transition' },
    {
      name: 'the current holder fails',
      run: 'RUNNING',
      task: task('RUNNING'),
      fence: '7',
      result: { kind: 'failed', error: 'x', retryable: true },
      answer: 'transition',
    },
    { name: 'the current holder releases', run: 'RUNNING', task: task('RUNNING'), fence: '7', result: { kind: 'released' }, answer: 'transition' },
    { name: 'a stale token is fenced', run: 'RUNNING', task: task('RUNNING'), fence: '6', result: ok, answer: LeaseLostError },
    { name: 'a stale token is fenced even after the task succeeded', run: 'RUNNING', task: task('SUCCEEDED'), fence: '6', result: ok, answer: LeaseLostError },
    { name: 'completing twice with the current token is idempotent', run: 'RUNNING', task: task('SUCCEEDED'), fence: '7', result: ok, answer: 'unchanged' },
    {
      name: 'failing after success with the current token is refused',
      run: 'RUNNING',
      task: task('SUCCEEDED'),
      fence: '7',
      result: { kind: 'failed', error: 'x', retryable: true },
      answer: LeaseLostError,
    },
    { name: 'a cancelled task answers RUN_CANCELLED', run: 'CANCELLED', task: task('CANCELLED'), fence: '7', result: ok, answer: RunCancelledError },
    {
      name: 'a running task of a cancelled run answers RUN_CANCELLED',
      run: 'CANCELLED',
      task: task('RUNNING'),
      fence: '7',
      result: ok,
      answer: RunCancelledError,
    },
    {
      name: 'a task queued again (lease expired) refuses the old holder',
      run: 'RUNNING',
      task: task('QUEUED'),
      fence: '7',
      result: ok,
      answer: LeaseLostError,
    },
  ])('$name', ({ run: r, task: t, fence, result, answer }) => {
    const d = decideResult(run(r), t, fence, result);
    if (answer === 'transition') expect(d).toEqual({ transition: { ...result, taskId: 't1' } });
    else if (answer === 'unchanged') expect(d).toEqual({ unchanged: true });
    else expect('refused' in d && d.refused).toBeInstanceOf(answer);
  });
});

describe('time-driven decisions', () => {
  it('a due timer completes a sleeping attempt with its input, only under its token', () => {
    expect(decideTimerFired(task('RUNNING', { timerAt: NOW }), '7')).toEqual({ kind: 'succeeded', taskId: 't1', output: { in: 1 } });
    expect(decideTimerFired(task('RUNNING', { timerAt: NOW }), '6')).toBeNull();
    expect(decideTimerFired(task('RUNNING'), '7')).toBeNull();
    expect(decideTimerFired(task('CANCELLED', { timerAt: NOW }), '7')).toBeNull();
    expect(decideTimerFired(undefined, '7')).toBeNull();
  });

  it('an expired lease fails a running attempt (retryable), never a parked one or a newer one', () => {
    expect(decideLeaseExpired(task('RUNNING'), '7')).toMatchObject({ kind: 'failed', retryable: true, failure: 'LEASE_EXPIRED' });
    expect(decideLeaseExpired(task('RUNNING', { timerAt: NOW }), '7')).toBeNull();
    expect(decideLeaseExpired(task('RUNNING'), '6')).toBeNull();
    expect(decideLeaseExpired(task('QUEUED'), '7')).toBeNull();
  });

  it('a step timeout fails the attempt it was armed for, parked or not', () => {
    expect(decideAttemptTimedOut(task('RUNNING'), '7')).toMatchObject({ kind: 'failed', failure: 'TIMED_OUT', error: 'Attempt 2 timed out after 500 ms' });
    expect(decideAttemptTimedOut(task('RUNNING', { timerAt: NOW }), '7')).toMatchObject({ failure: 'TIMED_OUT' });
    expect(decideAttemptTimedOut(task('RUNNING'), '8')).toBeNull();
    expect(decideAttemptTimedOut(task('SUCCEEDED'), '7')).toBeNull();
  });

  it('a run deadline fails an unfinished run once it has passed', () => {
    expect(decideRunDeadline({ status: 'RUNNING', deadlineAt: NOW }, NOW)).toMatchObject({ kind: 'runTimedOut' });
    expect(decideRunDeadline({ status: 'PENDING', deadlineAt: new Date(NOW.getTime() - 1) }, NOW)).toMatchObject({ kind: 'runTimedOut' });
    expect(decideRunDeadline({ status: 'RUNNING', deadlineAt: new Date(NOW.getTime() + 1) }, NOW)).toBeNull();
    expect(decideRunDeadline({ status: 'RUNNING', deadlineAt: null }, NOW)).toBeNull();
    expect(decideRunDeadline({ status: 'SUCCEEDED', deadlineAt: NOW }, NOW)).toBeNull();
  });
});

describe('requests on a run', () => {
  it('cancel: a finished run is left as it is', () => {
    expect(decideCancel({ status: 'RUNNING' }, 'x')).toEqual({ kind: 'cancel', reason: 'x' });
    expect(decideCancel({ status: 'PENDING' }, 'x')).toEqual({ kind: 'cancel', reason: 'x' });
    for (const status of ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const) expect(decideCancel({ status }, 'x')).toBeNull();
  });

  it('retry: only FAILED or CANCELLED runs; otherwise CONFLICT naming the status', () => {
    expect(decideRetry(run('FAILED'))).toEqual({ kind: 'retry' });
    expect(decideRetry(run('CANCELLED'))).toEqual({ kind: 'retry' });
    for (const status of ['PENDING', 'RUNNING', 'SUCCEEDED'] as const) {
      expect(() => decideRetry(run(status))).toThrow(ConflictError);
      expect(() => decideRetry(run(status))).toThrow(status);
    }
  });
});
