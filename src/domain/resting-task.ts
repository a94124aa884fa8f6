import type { TaskState } from './run-machine';

/**
 * A task's state at rest, every field of TaskState present and unset, with the given fields over
 * it: what a transition creates (a forEach step's items) and what tests build on, so a new column
 * touches one place.
 */
export function restingTask<T extends Pick<TaskState, 'id' | 'key' | 'status'> & Partial<TaskState>>(over: T): TaskState & T {
  return {
    attempt: 0,
    failures: 0,
    faults: 0,
    fence: '0',
    leaseSecret: null,
    input: null,
    output: null,
    error: null,
    workerId: null,
    availableAt: null,
    timerAt: null,
    signalName: null,
    childRunId: null,
    deadlineAt: null,
    queuedAt: null,
    startedAt: null,
    finishedAt: null,
    parentTaskId: null,
    item: null,
    itemIndex: null,
    itemCount: null,
    itemsLeft: null,
    itemsActive: null,
    failedItems: null,
    rateLimitKey: null,
    ...over,
  };
}
