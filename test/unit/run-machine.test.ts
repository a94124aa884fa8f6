import { restingTask } from '../../src/domain/resting-task';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, type RunStatus, type StepDefinition, type TaskStatus, type WorkflowDefinition } from '../../src/domain/glossary';
import {
  applyTransition,
  claimTask,
  IllegalTransitionError,
  type MachineContext,
  type RunState,
  type TaskState,
  type Transition,
} from '../../src/domain/run-machine';
import { planRun, startEvents } from '../../src/domain/run-plan';

/**
 * The run state machine, table-driven: for each transition from each relevant state, the new task
 * and run states, the events it authors, the attempts it begins and ends, and the transitions it
 * refuses. Pure: no database, no clock (now is fixed), jitter pinned.
 */

const NOW = new Date('2030-01-01T00:00:00.000Z');
const later = (ms: number) => new Date(NOW.getTime() + ms);

function step(key: string, dependsOn: string[] = [], extra: Partial<StepDefinition> = {}): StepDefinition {
  return { key, type: 'noop', queue: null, dependsOn, input: null, retry: { ...DEFAULT_RETRY }, timeoutMs: null, ...extra };
}

/** a → b: the smallest chain. `a` may retry when `retries` > 1. */
function chain(retries = 1, timeoutMs: number | null = null): WorkflowDefinition {
  return {
    description: null,
    timeoutMs,
    steps: [step('a', [], { retry: { ...DEFAULT_RETRY, maxAttempts: retries, initialDelayMs: 1000 } }), step('b', ['a'], { input: '{{ steps.a.output.v }}' })],
  };
}

function task(key: string, status: TaskStatus, extra: Partial<TaskState> = {}): TaskState & { timeoutMs: number | null } {
  const running = status === 'RUNNING';
  return restingTask({
    id: `t-${key}`,
    key,
    status,
    attempt: running ? 1 : 0,
    leaseSecret: running ? 'secret' : null,
    fence: running ? '1' : '0',
    workerId: running ? 'w1' : null,
    availableAt: status === 'QUEUED' ? NOW : null,
    queuedAt: status === 'QUEUED' ? NOW : null,
    startedAt: running ? NOW : null,
    timeoutMs: null,
    ...extra,
  });
}

function run(status: RunStatus, extra: Partial<RunState> = {}): RunState {
  return { id: 'r1', status, input: {}, output: null, error: null, startedAt: null, finishedAt: null, deadlineAt: null, pausedAt: null, ...extra };
}

function ctx(definition: WorkflowDefinition, r: RunState, tasks: TaskState[]): MachineContext {
  return { definition, run: r, tasks, now: NOW, random: () => 0.5, newSecret: () => 'secret', newId: () => 'new-id' };
}

const statusOf = (result: ReturnType<typeof applyTransition>, key: string) => result.tasks.find((t) => t.key === key)?.status;
const eventsOf = (result: ReturnType<typeof applyTransition>) => result.events.map((e) => `${e.type === 'run.status' ? 'run' : e.taskKey}:${e.status}`);

describe('planRun and startEvents', () => {
  it('queues the roots with resolved input, leaves the rest PENDING, and the history starts PENDING then QUEUED per root', () => {
    const def: WorkflowDefinition = {
      description: null,
      timeoutMs: null,
      steps: [step('a', [], { input: '{{ input.x }}' }), step('b'), step('c', ['a', 'b'])],
    };
    const plan = planRun(def, { x: 7 });
    expect(plan.map((t) => [t.key, t.status, t.input])).toEqual([
      ['a', 'QUEUED', 7],
      ['b', 'QUEUED', null],
      ['c', 'PENDING', null],
    ]);
    const events = startEvents(plan.map((t, i) => ({ ...t, id: `id${i}` })));
    expect(events.map((e) => `${e.taskKey ?? 'run'}:${e.status}:${e.attempt}`)).toEqual(['run:PENDING:null', 'a:QUEUED:0', 'b:QUEUED:0']);
  });

  it('reports a root template that reads a missing input path', () => {
    const def: WorkflowDefinition = { description: null, timeoutMs: null, steps: [step('a', [], { input: '{{ input.missing }}' })] };
    expect(() => planRun(def, {})).toThrow(/missing/);
  });
});

describe('claimTask', () => {
  it('bumps the attempt and the fencing token, sets the holder and the deadline, clears availability', () => {
    const claimed = claimTask({ ...task('a', 'QUEUED', { attempt: 2, fence: '41' }), timeoutMs: 500 }, 'w9', NOW, 's3cret');
    expect(claimed).toMatchObject({
      status: 'RUNNING',
      attempt: 3,
      fence: '42',
      leaseSecret: 's3cret',
      workerId: 'w9',
      startedAt: NOW,
      availableAt: null,
      deadlineAt: later(500),
    });
  });
});

type Row = {
  name: string;
  definition?: WorkflowDefinition;
  run: RunState;
  tasks: TaskState[];
  transition: Transition;
  /** Expected task statuses by key (only the ones that changed). */
  tasksAfter: Record<string, TaskStatus>;
  runAfter: RunStatus | null;
  events: string[];
  started?: string[];
  ended?: string[];
};

const table: Row[] = [
  {
    name: 'succeeded: the dependent is queued with its input resolved',
    run: run('RUNNING'),
    tasks: [task('a', 'RUNNING'), task('b', 'PENDING')],
    transition: { kind: 'succeeded', taskId: 't-a', output: { v: 5 } },
    tasksAfter: { a: 'SUCCEEDED', b: 'QUEUED' },
    runAfter: null,
    events: ['a:SUCCEEDED', 'b:QUEUED'],
    ended: ['a:1:SUCCEEDED'],
  },
  {
    name: 'succeeded: the last step finishes the run',
    run: run('RUNNING'),
    tasks: [task('a', 'SUCCEEDED', { output: { v: 1 } }), task('b', 'RUNNING')],
    transition: { kind: 'succeeded', taskId: 't-b', output: 'done' },
    tasksAfter: { b: 'SUCCEEDED' },
    runAfter: 'SUCCEEDED',
    events: ['b:SUCCEEDED', 'run:SUCCEEDED'],
    ended: ['b:1:SUCCEEDED'],
  },
  {
    name: 'failed with retries left: queued again after the backoff',
    definition: chain(3),
    run: run('RUNNING'),
    tasks: [task('a', 'RUNNING'), task('b', 'PENDING')],
    transition: { kind: 'failed', taskId: 't-a', error: 'boom', retryable: true },
    tasksAfter: { a: 'QUEUED' },
    runAfter: null,
    events: ['a:QUEUED'],
    ended: ['a:1:FAILED'],
  },
  {
    name: 'failed, not retryable: the task and the run fail, pending steps are cancelled',
    definition: chain(3),
    run: run('RUNNING'),
    tasks: [task('a', 'RUNNING'), task('b', 'PENDING')],
    transition: { kind: 'failed', taskId: 't-a', error: 'boom', retryable: false },
    tasksAfter: { a: 'FAILED', b: 'CANCELLED' },
    runAfter: 'FAILED',
    events: ['a:FAILED', 'b:CANCELLED', 'run:FAILED'],
    ended: ['a:1:FAILED'],
  },
  {
    name: 'failed by a timeout: the attempt ends TIMED_OUT',
    run: run('RUNNING'),
    tasks: [task('a', 'RUNNING'), task('b', 'PENDING')],
    transition: { kind: 'failed', taskId: 't-a', error: 'slow', retryable: true, failure: 'TIMED_OUT' },
    tasksAfter: { a: 'FAILED', b: 'CANCELLED' },
    runAfter: 'FAILED',
    events: ['a:FAILED', 'b:CANCELLED', 'run:FAILED'],
    ended: ['a:1:TIMED_OUT'],
  },
  {
    name: 'released: queued again, the attempt not counted',
    run: run('RUNNING'),
    tasks: [task('a', 'RUNNING'), task('b', 'PENDING')],
    transition: { kind: 'released', taskId: 't-a' },
    tasksAfter: { a: 'QUEUED' },
    runAfter: null,
    events: ['a:QUEUED'],
    ended: ['a:1:RELEASED'],
  },
  {
    name: 'released after the run failed (an attempt left running by an older version): cancelled, no event after the run ended',
    run: run('FAILED'),
    tasks: [task('a', 'RUNNING'), task('b', 'CANCELLED')],
    transition: { kind: 'released', taskId: 't-a' },
    tasksAfter: { a: 'CANCELLED' },
    runAfter: null,
    events: [],
    ended: ['a:1:RELEASED'],
  },
  {
    name: 'succeeded after the run failed (an attempt left running by an older version): recorded, no event after the run ended',
    run: run('FAILED'),
    tasks: [task('a', 'RUNNING'), task('b', 'CANCELLED')],
    transition: { kind: 'succeeded', taskId: 't-a', output: 1 },
    tasksAfter: { a: 'SUCCEEDED' },
    runAfter: null,
    events: [],
    ended: ['a:1:SUCCEEDED'],
  },
  {
    name: 'failed while a sibling runs: the sibling is cancelled first, the run FAILED is the last event',
    definition: { description: null, timeoutMs: null, steps: [step('a'), step('b'), step('c', ['a', 'b'])] },
    run: run('RUNNING'),
    tasks: [task('a', 'RUNNING'), task('b', 'RUNNING', { fence: '4' }), task('c', 'PENDING')],
    transition: { kind: 'failed', taskId: 't-a', error: 'boom', retryable: false },
    tasksAfter: { a: 'FAILED', b: 'CANCELLED', c: 'CANCELLED' },
    runAfter: 'FAILED',
    events: ['a:FAILED', 'b:CANCELLED', 'c:CANCELLED', 'run:FAILED'],
    ended: ['a:1:FAILED', 'b:4:CANCELLED'],
  },
  {
    name: 'cancel: unfinished tasks are cancelled, a running attempt ends CANCELLED',
    run: run('RUNNING'),
    tasks: [task('a', 'RUNNING'), task('b', 'PENDING')],
    transition: { kind: 'cancel', reason: 'by request' },
    tasksAfter: { a: 'CANCELLED', b: 'CANCELLED' },
    runAfter: 'CANCELLED',
    events: ['a:CANCELLED', 'b:CANCELLED', 'run:CANCELLED'],
    ended: ['a:1:CANCELLED'],
  },
  {
    name: 'runTimedOut: the run fails, unfinished tasks are cancelled',
    run: run('RUNNING'),
    tasks: [task('a', 'SUCCEEDED'), task('b', 'QUEUED')],
    transition: { kind: 'runTimedOut', error: 'late' },
    tasksAfter: { b: 'CANCELLED' },
    runAfter: 'FAILED',
    events: ['b:CANCELLED', 'run:FAILED'],
  },
  {
    name: 'retry: failed and cancelled steps run again, succeeded ones keep their outputs',
    run: run('FAILED'),
    tasks: [task('a', 'FAILED', { attempt: 3, fence: '3' }), task('b', 'CANCELLED')],
    transition: { kind: 'retry' },
    tasksAfter: { a: 'QUEUED', b: 'PENDING' },
    runAfter: 'RUNNING',
    events: ['run:RUNNING', 'a:PENDING', 'b:PENDING', 'a:QUEUED'],
  },
  {
    name: 'claim (eager): a queued task runs under a new token; a pending run starts',
    run: run('PENDING'),
    tasks: [task('a', 'QUEUED'), task('b', 'PENDING')],
    transition: { kind: 'claim', taskIds: ['t-a'], workerId: 'conductor:x' },
    tasksAfter: { a: 'RUNNING' },
    runAfter: 'RUNNING',
    events: ['run:RUNNING', 'a:RUNNING'],
    started: ['a:1:1'],
  },
  {
    name: 'claimed (by the claim statement): the claim is recorded, the tasks are not rewritten',
    run: run('RUNNING'),
    tasks: [task('a', 'RUNNING', { attempt: 2, fence: '7' })],
    transition: { kind: 'claimed', taskIds: ['t-a'], workerId: 'w2' },
    tasksAfter: {},
    runAfter: null,
    events: ['a:RUNNING'],
    started: ['a:2:7'],
  },
];

describe('applyTransition', () => {
  it.each(table)('$name', (row) => {
    const result = applyTransition(ctx(row.definition ?? chain(), row.run, row.tasks), row.transition);
    expect(Object.fromEntries(result.tasks.map((t) => [t.key, t.status]))).toEqual(row.tasksAfter);
    expect(result.run?.status ?? null).toBe(row.runAfter);
    expect(eventsOf(result)).toEqual(row.events);
    expect(result.attemptsStarted.map((a) => `${a.taskId.slice(2)}:${a.attempt}:${a.fence}`)).toEqual(row.started ?? []);
    expect(result.attemptsEnded.map((a) => `${a.taskId.slice(2)}:${a.fence}:${a.outcome}`)).toEqual(row.ended ?? []);
    // A run's terminal event is its last: no task event after it.
    const terminal = result.events.findIndex((e) => e.type === 'run.status' && ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(e.status));
    if (terminal >= 0) expect(terminal).toBe(result.events.length - 1);
  });

  it('does not touch its input', () => {
    const tasks = [task('a', 'RUNNING'), task('b', 'PENDING')];
    const before = structuredClone(tasks);
    applyTransition(ctx(chain(), run('RUNNING'), tasks), { kind: 'succeeded', taskId: 't-a', output: { v: 1 } });
    expect(tasks).toEqual(before);
  });

  it('retry: restarts the retry and fault budgets, continues the attempt number and the fencing token, and gives the run a new deadline', () => {
    const result = applyTransition(
      ctx(chain(1, 60_000), run('FAILED', { deadlineAt: NOW }), [
        task('a', 'FAILED', { attempt: 3, failures: 1, faults: 2, fence: '9' }),
        task('b', 'CANCELLED'),
      ]),
      {
        kind: 'retry',
      },
    );
    const a = result.tasks.find((t) => t.key === 'a')!;
    // The next claim is attempt 4: the history reads on from the attempts before the retry.
    expect(a).toMatchObject({ attempt: 3, failures: 0, faults: 0, fence: '9', status: 'QUEUED' });
    expect(claimTask({ ...a, timeoutMs: null }, 'w', NOW, 's').attempt).toBe(4);
    expect(result.run).toMatchObject({ status: 'RUNNING', deadlineAt: later(60_000), finishedAt: null, error: null });
  });

  it('failed with retries left: available after the backoff, with the delay and the failure in the event', () => {
    const result = applyTransition(ctx(chain(3), run('RUNNING'), [task('a', 'RUNNING'), task('b', 'PENDING')]), {
      kind: 'failed',
      taskId: 't-a',
      error: 'boom',
      retryable: true,
    });
    expect(result.tasks[0]).toMatchObject({ status: 'QUEUED', availableAt: later(1000), error: 'boom' });
    expect(result.ready).toEqual([{ queue: null, availableAt: later(1000) }]);
    expect(result.events[0]!.data).toEqual({ error: 'boom', failure: 'FAILED', fault: false, retryInMs: 1000 });
  });

  describe("faults of the system do not spend the step's attempts", () => {
    const expired = (taskId = 't-a'): Transition => ({ kind: 'failed', taskId, error: 'lease expired', retryable: true, failure: 'LEASE_EXPIRED' });

    it('an expired lease queues a one-attempt step again at once, counted as a fault', () => {
      const result = applyTransition(ctx(chain(1), run('RUNNING'), [task('a', 'RUNNING'), task('b', 'PENDING')]), expired());
      expect(result.tasks[0]).toMatchObject({ status: 'QUEUED', availableAt: NOW, failures: 0, faults: 1, attempt: 1 });
      expect(result.ready).toEqual([{ queue: null, availableAt: NOW }]);
      expect(result.events[0]!.data).toEqual({ error: 'lease expired', failure: 'LEASE_EXPIRED', fault: true, retryInMs: 0 });
      expect(result.attemptsEnded.map((a) => a.outcome)).toEqual(['LEASE_EXPIRED']);
      expect(result.run).toBeNull();
    });

    it("after a fault, the step's own failure still has its whole budget (attempt 2 is failure 1)", () => {
      const result = applyTransition(ctx(chain(2), run('RUNNING'), [task('a', 'RUNNING', { attempt: 2, faults: 1 }), task('b', 'PENDING')]), {
        kind: 'failed',
        taskId: 't-a',
        error: 'boom',
        retryable: true,
      });
      // Backoff of the first failure (1000 ms), not of the second attempt.
      expect(result.tasks[0]).toMatchObject({ status: 'QUEUED', failures: 1, faults: 1, availableAt: later(1000) });
    });

    it('the fault past maxFaults fails the task and the run (a poison task ends)', () => {
      const def = chain(3);
      def.steps[0]!.retry.maxFaults = 2;
      const survives = applyTransition(ctx(def, run('RUNNING'), [task('a', 'RUNNING', { attempt: 2, faults: 1 }), task('b', 'PENDING')]), expired());
      expect(survives.tasks[0]).toMatchObject({ status: 'QUEUED', faults: 2 });
      const fails = applyTransition(ctx(def, run('RUNNING'), [task('a', 'RUNNING', { attempt: 3, faults: 2 }), task('b', 'PENDING')]), expired());
      expect(eventsOf(fails)).toEqual(['a:FAILED', 'b:CANCELLED', 'run:FAILED']);
      expect(fails.tasks[0]).toMatchObject({ faults: 3, failures: 0, error: 'lease expired (fault 3; the step allows 2)' });
    });

    it('a definition stored before maxFaults existed gets the default fault budget', () => {
      const def = chain(1);
      delete (def.steps[0]!.retry as Partial<typeof DEFAULT_RETRY>).maxFaults;
      const result = applyTransition(
        ctx(def, run('RUNNING'), [task('a', 'RUNNING', { faults: DEFAULT_RETRY.maxFaults - 1 }), task('b', 'PENDING')]),
        expired(),
      );
      expect(result.tasks[0]).toMatchObject({ status: 'QUEUED', faults: DEFAULT_RETRY.maxFaults });
    });

    it('the default policy: 3 attempts, 1 s then 2 s (±20 %), 60 s cap, 10 faults', () => {
      expect(DEFAULT_RETRY).toEqual({ maxAttempts: 3, initialDelayMs: 1000, backoffFactor: 2, maxDelayMs: 60_000, maxFaults: 10 });
    });
  });

  it('a dependent whose template cannot resolve fails the run at once', () => {
    const result = applyTransition(ctx(chain(), run('RUNNING'), [task('a', 'RUNNING'), task('b', 'PENDING')]), {
      kind: 'succeeded',
      taskId: 't-a',
      output: { other: 1 },
    });
    expect(statusOf(result, 'b')).toBe('FAILED');
    expect(result.run?.status).toBe('FAILED');
  });

  it('a run that succeeded outputs the results of the steps nothing depends on', () => {
    const result = applyTransition(ctx(chain(), run('RUNNING'), [task('a', 'SUCCEEDED', { output: { v: 1 } }), task('b', 'RUNNING')]), {
      kind: 'succeeded',
      taskId: 't-b',
      output: 'final',
    });
    expect(result.run?.output).toEqual({ b: 'final' });
  });

  const illegal: { name: string; run: RunState; tasks: TaskState[]; transition: Transition }[] = [
    { name: 'succeeded on a QUEUED task', run: run('RUNNING'), tasks: [task('a', 'QUEUED')], transition: { kind: 'succeeded', taskId: 't-a', output: null } },
    {
      name: 'succeeded on a SUCCEEDED task',
      run: run('RUNNING'),
      tasks: [task('a', 'SUCCEEDED')],
      transition: { kind: 'succeeded', taskId: 't-a', output: null },
    },
    {
      name: 'failed on a PENDING task',
      run: run('RUNNING'),
      tasks: [task('a', 'PENDING')],
      transition: { kind: 'failed', taskId: 't-a', error: 'x', retryable: true },
    },
    { name: 'released on a CANCELLED task', run: run('CANCELLED'), tasks: [task('a', 'CANCELLED')], transition: { kind: 'released', taskId: 't-a' } },
    {
      name: 'a result for a task of another run',
      run: run('RUNNING'),
      tasks: [task('a', 'RUNNING')],
      transition: { kind: 'succeeded', taskId: 't-zzz', output: null },
    },
    { name: 'cancel of a finished run', run: run('SUCCEEDED'), tasks: [task('a', 'SUCCEEDED')], transition: { kind: 'cancel', reason: 'x' } },
    { name: 'runTimedOut of a cancelled run', run: run('CANCELLED'), tasks: [task('a', 'CANCELLED')], transition: { kind: 'runTimedOut', error: 'x' } },
    { name: 'retry of a running run', run: run('RUNNING'), tasks: [task('a', 'RUNNING')], transition: { kind: 'retry' } },
    { name: 'retry of a succeeded run', run: run('SUCCEEDED'), tasks: [task('a', 'SUCCEEDED')], transition: { kind: 'retry' } },
    { name: 'claim of a RUNNING task', run: run('RUNNING'), tasks: [task('a', 'RUNNING')], transition: { kind: 'claim', taskIds: ['t-a'], workerId: 'w' } },
    {
      name: 'claim of a task in its retry backoff',
      run: run('RUNNING'),
      tasks: [task('a', 'QUEUED', { availableAt: later(1000) })],
      transition: { kind: 'claim', taskIds: ['t-a'], workerId: 'w' },
    },
    { name: 'claim in a finished run', run: run('FAILED'), tasks: [task('a', 'QUEUED')], transition: { kind: 'claim', taskIds: ['t-a'], workerId: 'w' } },
    {
      name: 'claimed for a task that is not running',
      run: run('RUNNING'),
      tasks: [task('a', 'QUEUED')],
      transition: { kind: 'claimed', taskIds: ['t-a'], workerId: 'w' },
    },
  ];

  it.each(illegal)('refuses $name', ({ run: r, tasks, transition }) => {
    expect(() => applyTransition(ctx(chain(), r, tasks), transition)).toThrow(IllegalTransitionError);
  });
});
