import { restingTask } from '../../src/domain/resting-task';
import { describe, expect, it } from 'vitest';
import {
  ChildLookupsNeeded,
  decideChildFinished,
  decideLaunch,
  isOrphan,
  parseChildInput,
  type ChildContext,
  type ChildWorkflowRef,
} from '../../src/domain/child-runs';
import { decideLeaseExpired, decideRetry } from '../../src/domain/decisions';
import { DEFAULT_RETRY, type StepDefinition, type TaskStatus, type WorkflowDefinition } from '../../src/domain/glossary';
import type { RunRecord, WorkflowRecord } from '../../src/domain/model';
import { applyTransition, type MachineContext, type RunState, type TaskState, type Transition } from '../../src/domain/run-machine';

/**
 * Child workflows in the pure state machine: what a ready `workflow` step decides (start, refuse,
 * wait, or ask for lookups), how a child's end completes the waiting attempt, and which ends of
 * the attempt leave the child an orphan to cancel. Table-driven, no database, fixed `now`.
 */
const NOW = new Date('2030-01-01T00:00:00.000Z');

const child: WorkflowRecord = {
  id: 'wf-child',
  tenantId: 'acme',
  name: 'child',
  version: 2,
  description: null,
  definitionHash: 'h',
  createdAt: NOW,
  definition: {
    description: null,
    timeoutMs: 60_000,
    steps: [
      { key: 'x', type: 'noop', queue: null, dependsOn: [], input: { n: '{{ input.n }}' }, retry: { ...DEFAULT_RETRY }, timeoutMs: null },
      { key: 'y', type: 'noop', queue: null, dependsOn: ['x'], input: null, retry: { ...DEFAULT_RETRY }, timeoutMs: null },
    ],
  },
};

function callStep(input: StepDefinition['input'] = { workflow: 'child', input: { n: 1 } }, extra: Partial<StepDefinition> = {}): StepDefinition {
  return {
    key: 'call',
    type: 'workflow',
    queue: null,
    dependsOn: [],
    input,
    retry: { ...DEFAULT_RETRY, initialDelayMs: 0, maxDelayMs: 0 },
    timeoutMs: null,
    ...extra,
  };
}

function task(status: TaskStatus, extra: Partial<TaskState> = {}): TaskState {
  return restingTask({
    id: 't-call',
    key: 'call',
    status,
    input: { workflow: 'child', input: { n: 1 } },
    availableAt: status === 'QUEUED' ? NOW : null,
    ...extra,
  });
}

const run = (status: RunState['status'] = 'PENDING'): RunState => ({
  id: 'r1',
  status,
  input: {},
  output: null,
  error: null,
  startedAt: null,
  finishedAt: null,
  deadlineAt: null,
  pausedAt: null,
});

interface Lookups {
  workflows?: Record<string, WorkflowRecord | null>;
  room?: boolean;
  depth?: number;
  maxDepth?: number;
}

function children(l: Lookups = {}): NonNullable<MachineContext['children']> {
  let ids = 0;
  const ctx: ChildContext = {
    maxDepth: l.maxDepth ?? 16,
    workflow: (ref: ChildWorkflowRef) => (l.workflows === undefined ? child : ref.name in l.workflows ? l.workflows[ref.name] : undefined),
    takeRoom: () => l.room ?? true,
    newId: () => `id-${++ids}`,
  };
  return { ...ctx, parent: { tenantId: 'acme', depth: l.depth ?? 0, traceparent: '00-t-s-01' } };
}

function apply(step: StepDefinition, tasks: TaskState[], transition: Transition, l: Lookups = {}, r = run()) {
  const definition: WorkflowDefinition = { description: null, timeoutMs: null, steps: [step] };
  return applyTransition(
    { definition, run: r, tasks, now: NOW, random: () => 0.5, newSecret: () => 'fresh', newId: () => 'new-id', children: children(l) },
    transition,
  );
}

describe('a ready workflow step', () => {
  it('starts its child in the same transition: the attempt waits RUNNING with childRunId, no lease holder', () => {
    const result = apply(callStep(undefined, { timeoutMs: 5000 }), [task('QUEUED')], { kind: 'launchChildren' });
    expect(result.childRuns).toHaveLength(1);
    const [c] = result.childRuns;
    expect(c).toMatchObject({
      tenantId: 'acme',
      workflowId: 'wf-child',
      workflowVersion: 2,
      parentRunId: 'r1',
      parentTaskId: 't-call',
      depth: 1,
      input: { n: 1 },
      traceparent: '00-t-s-01',
      deadlineAt: new Date(NOW.getTime() + 60_000),
    });
    expect(c!.tasks.map((t) => [t.key, t.status, t.input])).toEqual([
      ['x', 'QUEUED', { n: 1 }],
      ['y', 'PENDING', null],
    ]);
    expect(c!.events.map((e) => `${e.type}:${e.status}`)).toEqual(['run.status:PENDING', 'task.status:QUEUED']);
    const [t] = result.tasks;
    expect(t).toMatchObject({ status: 'RUNNING', attempt: 1, fence: '1', childRunId: c!.id, leaseSecret: 'fresh', deadlineAt: new Date(NOW.getTime() + 5000) });
    expect(result.run?.status).toBe('RUNNING');
    expect(result.attemptsStarted).toEqual([{ taskId: 't-call', fence: '1', attempt: 1, workerId: `child-run:${c!.id}` }]);
    expect(result.events.at(-1)).toMatchObject({ status: 'RUNNING', data: { childRunId: c!.id, workflow: 'child', version: 2 } });
  });

  it.each([
    ['a bad input', { workflow: 7 }, {}, /"workflow" must name/, 'BAD_USER_INPUT'],
    ['an unknown workflow', { workflow: 'ghost' }, { workflows: { ghost: null } }, /NOT_FOUND: this tenant has no workflow named "ghost"/, 'NOT_FOUND'],
    ['too deep', { workflow: 'child' }, { depth: 3, maxDepth: 3 }, /4 levels deep; the limit is 3 \(MAX_WORKFLOW_DEPTH\)/, 'LIMIT_EXCEEDED'],
    ['an input the child cannot read', { workflow: 'child', input: {} }, {}, /does not fit workflow child version 2/, 'BAD_USER_INPUT'],
  ] as const)('refuses %s: the step fails at once, without an attempt, and the run fails', (_name, input, lookups, error, reason) => {
    const result = apply(callStep(), [task('QUEUED', { input })], { kind: 'launchChildren' }, lookups as Lookups);
    expect(result.childRuns).toEqual([]);
    expect(result.tasks[0]).toMatchObject({ status: 'FAILED', attempt: 0 });
    expect(result.tasks[0]!.error).toMatch(error);
    expect(result.events.find((e) => e.status === 'FAILED' && e.taskKey === 'call')?.data).toMatchObject({ reason });
    expect(result.run?.status).toBe('FAILED');
  });

  it('waits without an event while the tenant holds its quota of active runs', () => {
    const result = apply(callStep(), [task('QUEUED')], { kind: 'launchChildren' }, { room: false });
    expect(result.childRuns).toEqual([]);
    expect(result.tasks[0]).toMatchObject({ status: 'QUEUED', availableAt: new Date(NOW.getTime() + 1000) });
    expect(result.events).toEqual([]);
    expect(result.ready).toEqual([{ queue: null, availableAt: new Date(NOW.getTime() + 1000) }]);
  });

  it('asks for the lookups it lacks, all at once', () => {
    const missing = () => apply(callStep(), [task('QUEUED')], { kind: 'launchChildren' }, { workflows: {} });
    expect(missing).toThrow(ChildLookupsNeeded);
    try {
      missing();
    } catch (e: unknown) {
      expect((e as ChildLookupsNeeded).workflows).toEqual([{ tenantId: 'acme', name: 'child', version: null }]);
    }
  });

  it('is not started before its retry delay ends, nor by a claim', () => {
    const later = task('QUEUED', { availableAt: new Date(NOW.getTime() + 1) });
    expect(apply(callStep(), [later], { kind: 'launchChildren' }).childRuns).toEqual([]);
    expect(decideLaunch({ status: 'RUNNING' }, [{ ...later, type: 'workflow' }], NOW)).toBeNull();
    expect(decideLaunch({ status: 'RUNNING' }, [{ ...task('QUEUED'), type: 'workflow' }], NOW)).toEqual({ kind: 'launchChildren' });
    expect(decideLaunch({ status: 'CANCELLED' }, [{ ...task('QUEUED'), type: 'workflow' }], NOW)).toBeNull();
  });
});

describe("a child run's end", () => {
  const waiting = task('RUNNING', { attempt: 1, fence: '1', childRunId: 'c1', workerId: 'child-run:c1' });
  const ended = (status: RunRecord['status'], extra: Partial<RunRecord> = {}) => ({ id: 'c1', status, output: { leaf: 1 }, error: null, ...extra });

  it('completes the waiting attempt with its output, without orphaning it', () => {
    const outcome = decideChildFinished(waiting, ended('SUCCEEDED'))!;
    expect(outcome).toEqual({ kind: 'succeeded', taskId: 't-call', output: { leaf: 1 }, childRunId: 'c1' });
    const result = apply(callStep(), [waiting], outcome, {}, run('RUNNING'));
    expect(result.tasks[0]).toMatchObject({ status: 'SUCCEEDED', output: { leaf: 1 } });
    expect(result.run).toMatchObject({ status: 'SUCCEEDED', output: { call: { leaf: 1 } } });
    expect(result.orphanedChildren).toEqual([]);
  });

  it('fails the attempt when it failed or was cancelled; the retry starts a new child in the same transition', () => {
    const outcome = decideChildFinished(waiting, ended('FAILED', { error: 'Step "x" failed: boom' }))!;
    expect(outcome).toMatchObject({ kind: 'failed', retryable: true, reason: 'CHILD_FAILED', error: 'Child run c1 FAILED: Step "x" failed: boom' });
    const result = apply(callStep(), [waiting], outcome, {}, run('RUNNING'));
    expect(result.tasks[0]).toMatchObject({ status: 'RUNNING', attempt: 2, failures: 1, childRunId: result.childRuns[0]!.id });
    expect(result.orphanedChildren).toEqual([]);
    expect(decideChildFinished(waiting, ended('CANCELLED'))).toMatchObject({ reason: 'CHILD_CANCELLED', retryable: true });
  });

  it('is final when the child was refused for depth: no level retries it', () => {
    expect(decideChildFinished(waiting, ended('FAILED', { error: 'Step "again" failed: LIMIT_EXCEEDED: … (MAX_WORKFLOW_DEPTH)' }))).toMatchObject({
      retryable: false,
    });
  });

  it('changes nothing once the task stopped waiting for that child', () => {
    expect(decideChildFinished({ ...waiting, childRunId: 'c2' }, ended('SUCCEEDED'))).toBeNull();
    expect(decideChildFinished({ ...waiting, status: 'CANCELLED' }, ended('SUCCEEDED'))).toBeNull();
    expect(decideChildFinished(waiting, ended('RUNNING'))).toBeNull();
    expect(isOrphan(waiting, 'c1')).toBe(false);
    expect(isOrphan({ ...waiting, status: 'QUEUED' }, 'c1')).toBe(true);
    expect(isOrphan({ ...waiting, childRunId: 'c2' }, 'c1')).toBe(true);
  });
});

describe('orphans and leases', () => {
  const waiting = task('RUNNING', { attempt: 1, fence: '1', childRunId: 'c1', workerId: 'child-run:c1' });

  it.each([
    ['the run is cancelled', { kind: 'cancel', reason: 'by request' } as Transition],
    ['the run times out', { kind: 'runTimedOut', error: 'late' } as Transition],
    ['the step times out', { kind: 'failed', taskId: 't-call', error: 'timed out', retryable: true, failure: 'TIMED_OUT' } as Transition],
  ])('the child is an orphan when %s', (_name, transition) => {
    const result = apply(callStep(undefined, { retry: { ...DEFAULT_RETRY, maxAttempts: 1 } }), [waiting], transition, {}, run('RUNNING'));
    expect(result.orphanedChildren).toEqual(['c1']);
  });

  it('a waiting attempt holds no lease: its expiry is nothing to reclaim', () => {
    expect(decideLeaseExpired({ ...waiting }, '1')).toBeNull();
  });

  it('a child run is retried through its parent, never on its own', () => {
    expect(() => decideRetry({ id: 'c1', status: 'FAILED', parentRunId: 'r1' })).toThrow(/child run of run r1; retry the parent/);
  });
});

describe('parseChildInput', () => {
  it.each([
    [{ workflow: 'a' }, { workflow: 'a', version: null, input: {} }],
    [
      { workflow: 'a', version: 3, input: [1] },
      { workflow: 'a', version: 3, input: [1] },
    ],
    ['x', /must be an object/],
    [{ workflow: 'a', extra: 1 }, /unknown field\(s\) "extra"/],
    [{ workflow: 'a', version: 0 }, /"version" must be a version number/],
  ] as const)('%j', (input, expected) => {
    const parsed = parseChildInput(input as never);
    if (expected instanceof RegExp) expect(parsed).toMatch(expected);
    else expect(parsed).toEqual(expected);
  });
});
