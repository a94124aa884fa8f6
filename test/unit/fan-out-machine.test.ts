import { restingTask } from '../../src/domain/resting-task';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, type StepDefinition, type WorkflowDefinition } from '../../src/domain/glossary';
import { applyTransition, type RunState, type TaskState } from '../../src/domain/run-machine';
import type { CreatedTask } from '../../src/domain/fan-out-machine';

/**
 * The state machine's fan-out rules alone: a forEach step fans out when its dependency succeeds,
 * queues at most maxConcurrency items, queues the next as one ends, fans in once in item order,
 * and fails (or not) on a failed item.
 */
const NOW = new Date('2030-01-01T00:00:00.000Z');

function step(key: string, extra: Partial<StepDefinition> = {}): StepDefinition {
  return { key, type: 'noop', queue: null, dependsOn: [], input: {}, retry: { ...DEFAULT_RETRY, maxAttempts: 1 }, timeoutMs: null, ...extra };
}

function task(key: string, status: TaskState['status'], extra: Partial<TaskState> = {}): TaskState {
  return restingTask({
    id: `t-${key}`,
    key,
    status,
    ...extra,
  });
}

const run: RunState = {
  id: 'r1',
  status: 'RUNNING',
  input: { n: [10, 20, 30, 40, 50] },
  output: null,
  error: null,
  startedAt: NOW,
  finishedAt: null,
  deadlineAt: null,
  pausedAt: null,
};

function definition(extra: Partial<StepDefinition> = {}): WorkflowDefinition {
  return {
    description: null,
    timeoutMs: null,
    steps: [step('a'), step('each', { dependsOn: ['a'], forEach: '{{ input.n }}', maxConcurrency: 2, input: { v: '{{ item }}', i: '{{ index }}' }, ...extra })],
  };
}

let ids = 0;
const ctx = (def: WorkflowDefinition, tasks: TaskState[]) => ({
  definition: def,
  run,
  tasks,
  now: NOW,
  random: () => 0.5,
  newSecret: () => 's',
  newId: () => `item-${ids++}`,
});

/** Applies a transition and folds its changes and creations into the task list. */
function step1(def: WorkflowDefinition, tasks: TaskState[], transition: Parameters<typeof applyTransition>[1]) {
  const result = applyTransition(ctx(def, tasks), transition);
  const changed = new Map([...result.tasks, ...result.created].map((t) => [t.id, t]));
  const next = [...tasks.map((t) => changed.get(t.id) ?? t), ...result.created.filter((c) => !tasks.some((t) => t.id === c.id))];
  return { result, tasks: next };
}

const claimAndSucceed = (def: WorkflowDefinition, tasks: TaskState[], id: string, output: unknown) => {
  let s = step1(def, tasks, { kind: 'claim', taskIds: [id], workerId: 'w' });
  s = step1(def, s.tasks, { kind: 'succeeded', taskId: id, output: output as never });
  return s;
};

describe('fan-out in the state machine', () => {
  it('fans out when the dependency succeeds: every item created, maxConcurrency of them queued', () => {
    ids = 0;
    const def = definition();
    const s = step1(def, [task('a', 'RUNNING', { attempt: 1, fence: '1' }), task('each', 'PENDING')], { kind: 'succeeded', taskId: 't-a', output: null });
    const created = s.result.created as CreatedTask[];
    expect(created.map((c) => [c.itemIndex, c.item, c.status, c.input])).toEqual([
      [0, 10, 'QUEUED', { v: 10, i: 0 }],
      [1, 20, 'QUEUED', { v: 20, i: 1 }],
      [2, 30, 'PENDING', { v: 30, i: 2 }],
      [3, 40, 'PENDING', { v: 40, i: 3 }],
      [4, 50, 'PENDING', { v: 50, i: 4 }],
    ]);
    expect(created.every((c) => c.parentTaskId === 't-each' && c.key === 'each' && c.type === 'noop')).toBe(true);
    const fan = s.tasks.find((t) => t.id === 't-each')!;
    expect(fan).toMatchObject({ status: 'RUNNING', itemCount: 5, itemsLeft: 5, itemsActive: 2, workerId: null });
    expect(s.result.events.find((e) => e.taskId === 't-each')).toMatchObject({ status: 'RUNNING', data: { items: 5 } });
  });

  it('queues the next item as one ends and fans in once, in item order', () => {
    ids = 0;
    const def = definition();
    let s = step1(def, [task('a', 'RUNNING', { attempt: 1, fence: '1' }), task('each', 'PENDING')], { kind: 'succeeded', taskId: 't-a', output: null });
    // Items end out of order: 1 before 0.
    for (const i of [1, 0, 2, 4, 3]) {
      s = claimAndSucceed(def, s.tasks, `item-${i}`, i * 100);
      const active = s.tasks.filter((t) => t.parentTaskId && (t.status === 'QUEUED' || t.status === 'RUNNING')).length;
      expect(active).toBeLessThanOrEqual(2);
    }
    const fan = s.tasks.find((t) => t.id === 't-each')!;
    expect(fan).toMatchObject({ status: 'SUCCEEDED', output: [0, 100, 200, 300, 400], failedItems: [], itemsLeft: 0 });
    expect(s.result.run).toMatchObject({ status: 'SUCCEEDED', output: { each: [0, 100, 200, 300, 400] } });
  });

  it('a failed item fails the step and the run, cancelling the rest; with continueOnItemFailure it yields null', () => {
    for (const cont of [false, true]) {
      ids = 0;
      const def = definition(cont ? { continueOnItemFailure: true } : {});
      let s = step1(def, [task('a', 'RUNNING', { attempt: 1, fence: '1' }), task('each', 'PENDING')], { kind: 'succeeded', taskId: 't-a', output: null });
      s = step1(def, s.tasks, { kind: 'claim', taskIds: ['item-0'], workerId: 'w' });
      s = step1(def, s.tasks, { kind: 'failed', taskId: 'item-0', error: 'boom', retryable: false });
      const fan = s.tasks.find((t) => t.id === 't-each')!;
      if (!cont) {
        expect(fan).toMatchObject({ status: 'FAILED', failedItems: [0], error: 'item 0 failed: boom' });
        expect(s.result.run).toMatchObject({ status: 'FAILED' });
        expect(s.tasks.filter((t) => t.parentTaskId && t.status !== 'FAILED').every((t) => t.status === 'CANCELLED')).toBe(true);
      } else {
        expect(fan).toMatchObject({ status: 'RUNNING', itemsLeft: 4, itemsActive: 2 });
        for (const i of [1, 2, 3, 4]) s = claimAndSucceed(def, s.tasks, `item-${i}`, i);
        expect(s.tasks.find((t) => t.id === 't-each')).toMatchObject({ status: 'SUCCEEDED', output: [null, 1, 2, 3, 4], failedItems: [0] });
      }
    }
  });

  it('an empty list succeeds at once with [] and the run goes on', () => {
    const def: WorkflowDefinition = {
      ...definition(),
      steps: [...definition().steps, step('after', { dependsOn: ['each'], input: '{{ steps.each.output }}' })],
    };
    const s = step1(def, [task('a', 'RUNNING', { attempt: 1, fence: '1' }), task('each', 'PENDING'), task('after', 'PENDING')], {
      kind: 'succeeded',
      taskId: 't-a',
      output: null,
    });
    void s;
    const empty = applyTransition(
      { ...ctx(def, [task('a', 'RUNNING', { attempt: 1, fence: '1' }), task('each', 'PENDING'), task('after', 'PENDING')]), run: { ...run, input: { n: [] } } },
      { kind: 'succeeded', taskId: 't-a', output: null },
    );
    expect(empty.created).toEqual([]);
    expect(empty.tasks.find((t) => t.key === 'each')).toMatchObject({ status: 'SUCCEEDED', output: [] });
    expect(empty.tasks.find((t) => t.key === 'after')).toMatchObject({ status: 'QUEUED', input: [] });
  });
});
