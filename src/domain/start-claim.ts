/**
 * Eager start: a new run's ready roots claimed by this replica's executors in the run's own
 * insert, so no claim transaction follows the start (Temporal's eager workflow start does the
 * like). The claim is the state machine's: the planned run and tasks go through its `claim`
 * transition in memory, and what comes out (tasks RUNNING under a new fencing token, their
 * attempts, the run RUNNING, the events a claim records) is inserted with the rest. Pure.
 */
import type { WorkflowDefinition } from './glossary';
import { applyTransition, type InitialTask, type EventDraft, type RunState, type TaskState, type TransitionResult } from './run-machine';
import { restingTask } from './resting-task';

export interface StartClaimed {
  /** Every planned task, the claimed ones RUNNING with their lease fields. */
  tasks: (Omit<InitialTask, 'status'> & TaskState)[];
  /** The run after the claim: RUNNING, started now. */
  run: RunState;
  /** The claim's events, after the start's own. */
  events: EventDraft[];
  attemptsStarted: TransitionResult['attemptsStarted'];
}

export function claimAtStart(
  ctx: { definition: WorkflowDefinition; now: Date; newSecret: () => string },
  run: Pick<RunState, 'id' | 'input' | 'deadlineAt'>,
  planned: readonly InitialTask[],
  claim: { taskIds: readonly string[]; workerId: string },
): StartClaimed {
  const { now } = ctx;
  // The planned tasks as the insert leaves them: a QUEUED one available and queued now.
  const tasks = planned.map((t) =>
    restingTask({
      ...t,
      queuedAt: t.status === 'QUEUED' ? now : null,
      availableAt: t.status === 'QUEUED' ? now : null,
      startedAt: t.status === 'RUNNING' ? now : null,
    }),
  );
  const result = applyTransition(
    {
      ...ctx,
      run: { ...run, status: 'PENDING', output: null, error: null, startedAt: null, finishedAt: null, pausedAt: null },
      tasks,
      random: Math.random,
      // A claim creates no task.
      newId: () => {
        throw new Error('a claim creates no task');
      },
    },
    { kind: 'claim', taskIds: [...claim.taskIds], workerId: claim.workerId },
  );
  const changed = new Map(result.tasks.map((t) => [t.id, t]));
  return {
    tasks: tasks.map((t) => ({ ...t, ...changed.get(t.id) })),
    run: result.run!,
    events: result.events,
    attemptsStarted: result.attemptsStarted,
  };
}
