import { restingTask } from '../../src/domain/resting-task';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, type RunStatus, type StepDefinition, type TaskStatus, type WorkflowDefinition } from '../../src/domain/glossary';
import { applyTransition, isTerminalTask, planRun, type MachineContext, type RunState, type TaskState } from '../../src/domain/run-machine';

/** `when` conditions in the pure state machine: SKIPPED, cascades, the run's end, evaluation errors. */

const NOW = new Date('2030-01-01T00:00:00.000Z');

function step(key: string, dependsOn: string[] = [], extra: Partial<StepDefinition> = {}): StepDefinition {
  return { key, type: 'noop', queue: null, dependsOn, input: null, retry: { ...DEFAULT_RETRY }, timeoutMs: null, ...extra };
}
function task(key: string, status: TaskStatus, extra: Partial<TaskState> = {}): TaskState {
  const running = status === 'RUNNING';
  return restingTask({
    id: `t-${key}`,
    key,
    status,
    attempt: running ? 1 : 0,
    leaseSecret: running ? 'secret' : null,
    fence: running ? '1' : '0',
    workerId: running ? 'w1' : null,
    startedAt: running ? NOW : null,
    ...extra,
  });
}
function run(status: RunStatus, input: RunState['input'] = {}): RunState {
  return {
    id: 'r1',
    status,
    input,
    output: null,
    error: null,
    startedAt: status === 'RUNNING' ? NOW : null,
    finishedAt: null,
    deadlineAt: null,
    pausedAt: null,
  };
}
function ctx(steps: StepDefinition[], r: RunState, tasks: TaskState[]): MachineContext {
  const definition: WorkflowDefinition = { description: null, timeoutMs: null, steps };
  return { definition, run: r, tasks, now: NOW, random: () => 0.5, newSecret: () => 'secret', newId: () => 'new-id' };
}

describe('conditions in the state machine', () => {
  const ifElse = [
    step('check'),
    step('big', ['check'], { when: 'steps.check.output.n > 10', input: 'big' }),
    step('small', ['check'], { when: 'steps.check.output.n <= 10', input: 'small' }),
    step('join', ['big', 'small'], { input: { big: '{{ steps.big.output }}', small: '{{ steps.small.output }}' } }),
  ];

  it('a false condition skips; a skipped dependency reads as null; the join is queued', () => {
    const result = applyTransition(
      ctx(ifElse, run('RUNNING'), [task('check', 'RUNNING'), task('big', 'PENDING'), task('small', 'PENDING'), task('join', 'PENDING')]),
      {
        kind: 'succeeded',
        taskId: 't-check',
        output: { n: 3 },
      },
    );
    const byKey = Object.fromEntries(result.tasks.map((t) => [t.key, t]));
    expect(byKey.big).toMatchObject({ status: 'SKIPPED', input: null, output: null, finishedAt: NOW });
    expect(byKey.small).toMatchObject({ status: 'QUEUED', input: 'small' });
    expect(byKey.join).toBeUndefined();
    expect(result.events.find((e) => e.taskKey === 'big')).toMatchObject({
      status: 'SKIPPED',
      data: { reason: 'CONDITION_FALSE', when: 'steps.check.output.n > 10' },
    });

    const next = applyTransition(
      ctx(ifElse, run('RUNNING'), [
        task('check', 'SUCCEEDED', { output: { n: 3 } }),
        task('big', 'SKIPPED'),
        task('small', 'RUNNING', { input: 'small' }),
        task('join', 'PENDING'),
      ]),
      { kind: 'succeeded', taskId: 't-small', output: 'S' },
    );
    expect(next.tasks.find((t) => t.key === 'join')).toMatchObject({ status: 'QUEUED', input: { big: null, small: 'S' } });
  });

  it('skips cascade in one transition and the run succeeds with null leaves', () => {
    const steps = [step('a', [], { when: 'input.go' }), step('b', ['a'], { when: 'steps.a.output != null' }), step('c', ['b'], { when: 'false' })];
    const plan = planRun({ description: null, timeoutMs: null, steps }, { go: false });
    expect(plan.map((t) => t.status)).toEqual(['PENDING', 'PENDING', 'PENDING']);
    const result = applyTransition(ctx(steps, run('PENDING', { go: false }), [task('a', 'PENDING'), task('b', 'PENDING'), task('c', 'PENDING')]), {
      kind: 'promote',
    });
    expect(result.tasks.map((t) => t.status)).toEqual(['SKIPPED', 'SKIPPED', 'SKIPPED']);
    expect(result.run).toMatchObject({ status: 'SUCCEEDED', output: { c: null }, startedAt: NOW, finishedAt: NOW });
    expect(result.events.map((e) => `${e.taskKey ?? 'run'}:${e.status}`)).toEqual(['a:SKIPPED', 'b:SKIPPED', 'c:SKIPPED', 'run:SUCCEEDED']);
  });

  it('promote queues a conditional root whose condition holds, and is a no-op on a finished run', () => {
    const steps = [step('a', [], { when: 'input.go', input: '{{ input.go }}' })];
    const result = applyTransition(ctx(steps, run('PENDING', { go: true }), [task('a', 'PENDING')]), { kind: 'promote' });
    expect(result.tasks[0]).toMatchObject({ status: 'QUEUED', input: true });
    expect(result.ready).toEqual([{ queue: null, availableAt: NOW }]);
    expect(applyTransition(ctx(steps, run('CANCELLED'), [task('a', 'CANCELLED')]), { kind: 'promote' }).tasks).toEqual([]);
  });

  it('an evaluation error fails the task at once and the run with it', () => {
    const steps = [step('a'), step('b', ['a'], { when: 'steps.a.output.nope', retry: { ...DEFAULT_RETRY, maxAttempts: 5 } }), step('c')];
    const result = applyTransition(ctx(steps, run('RUNNING'), [task('a', 'RUNNING'), task('b', 'PENDING'), task('c', 'QUEUED')]), {
      kind: 'succeeded',
      taskId: 't-a',
      output: {},
    });
    const b = result.tasks.find((t) => t.key === 'b')!;
    expect(b.status).toBe('FAILED');
    expect(b.error).toMatch(/^the condition of step "b" \(steps\[1\]\.when\) failed at offset \d+ \(`steps\.a\.output\.nope`\): No such key: nope/);
    expect(result.events.find((e) => e.taskKey === 'b')?.data).toMatchObject({ reason: 'CONDITION_ERROR', when: 'steps.a.output.nope' });
    expect(result.tasks.find((t) => t.key === 'c')?.status).toBe('CANCELLED');
    expect(result.run?.status).toBe('FAILED');
  });

  it('SKIPPED is terminal; retryRun leaves it alone', () => {
    expect(isTerminalTask('SKIPPED')).toBe(true);
    const steps = [step('a', [], { when: 'false' }), step('b', ['a'])];
    const result = applyTransition(ctx(steps, { ...run('FAILED'), error: 'x' }, [task('a', 'SKIPPED'), task('b', 'FAILED', { error: 'boom' })]), {
      kind: 'retry',
    });
    expect(result.tasks.map((t) => `${t.key}:${t.status}`)).toEqual(['b:QUEUED']);
  });
});
