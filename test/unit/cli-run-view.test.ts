import { describe, expect, it } from 'vitest';
import { exitCodeOfRun, RunView, type RunEventJson } from '../../src/cli/maestro/watch';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
let seq = 0;
function ev(type: RunEventJson['type'], status: string, task?: { id: string; key: string; attempt?: number }, ms = 0): RunEventJson {
  return {
    runId: 'r',
    seq: ++seq,
    type,
    status,
    workflow: 'w',
    taskId: task?.id ?? null,
    taskKey: task?.key ?? null,
    attempt: task?.attempt ?? null,
    createdAt: new Date(T0 + ms).toISOString(),
  };
}

describe('RunView (maestro run watch)', () => {
  it('shows every step from the start, then each task with its state, attempt and duration', () => {
    seq = 0;
    const view = new RunView('r', 'w v1', ['a', 'b']);
    expect(view.frame(T0)).toContain('b     PENDING  -        -');
    view.apply(ev('RUN_STATUS', 'RUNNING'));
    view.apply(ev('TASK_STATUS', 'RUNNING', { id: 't1', key: 'a', attempt: 1 }, 0));
    view.apply(ev('TASK_STATUS', 'QUEUED', { id: 't1', key: 'a', attempt: 1 }, 300));
    view.apply(ev('TASK_STATUS', 'RUNNING', { id: 't1', key: 'a', attempt: 2 }, 1000));
    view.apply(ev('TASK_STATUS', 'SUCCEEDED', { id: 't1', key: 'a', attempt: 2 }, 3500));
    view.apply(ev('TASK_STATUS', 'RUNNING', { id: 't2', key: 'b', attempt: 1 }, 3500));
    const frame = view.frame(T0 + 3750).split('\n');
    expect(frame[0]).toBe('Run r (w v1): RUNNING');
    expect(frame.slice(2)).toEqual(['STEP  STATE      ATTEMPT  DURATION', 'a     SUCCEEDED  2        2.5s', 'b     RUNNING    1        250ms']);
    expect(view.finished).toBe(false);
    view.apply(ev('RUN_STATUS', 'SUCCEEDED'));
    expect(view.finished).toBe(true);
  });

  it('ignores an event it has seen (a replay overlapping live events)', () => {
    seq = 0;
    const view = new RunView('r', 'w', ['a']);
    const first = ev('TASK_STATUS', 'RUNNING', { id: 't1', key: 'a', attempt: 1 });
    expect(view.apply(first)).toBe(true);
    expect(view.apply(first)).toBe(false);
    expect(view.lastSeq).toBe(1);
  });

  it('gives the further tasks of a step (fan-out items) rows of their own, next to the step', () => {
    seq = 0;
    const view = new RunView('r', 'w', ['ship', 'done']);
    for (const id of ['p', 'i1', 'i2']) view.apply(ev('TASK_STATUS', 'RUNNING', { id, key: 'ship', attempt: 1 }));
    view.apply(ev('TASK_STATUS', 'SUCCEEDED', { id: 'i2', key: 'ship', attempt: 1 }));
    expect(view.rows.map((r) => `${r.label}:${r.status}`)).toEqual(['ship:RUNNING', 'ship #1:RUNNING', 'ship #2:SUCCEEDED', 'done:PENDING']);
  });

  it.each([
    ['SUCCEEDED', 0],
    ['FAILED', 1],
    ['CANCELLED', 6],
  ])('a %s run exits %i', (status, code) => {
    expect(exitCodeOfRun(status)).toBe(code);
  });
});
