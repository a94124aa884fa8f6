import type { AttemptOutcome, AttemptRecord, RunEvent, RunRecord, TaskRecord } from '../domain/model';
import type { TaskState } from '../domain/run-machine';
import type { Sql } from './sql';
import { ident, insertFromJson, RUN_EVENTS, RUNS, TASK_ATTEMPTS, TASKS, updateFromJson } from './tables';

type RunUpdate = (typeof RUNS.transitionUpdates)[number];
type AttemptStart = (typeof TASK_ATTEMPTS.transitionInserts)[number];

/** Everything one transaction of the engine writes: changed tasks and runs, new events, attempts begun and ended. */
export interface TransitionWrites {
  tasks: readonly TaskState[];
  /** Tasks the transition created (a forEach step's items), whole. */
  created: readonly TaskRecord[];
  runs: readonly Pick<RunRecord, 'id' | RunUpdate>[];
  events: readonly RunEvent[];
  attemptsStarted: readonly Pick<AttemptRecord, AttemptStart>[];
  attemptsEnded: readonly { taskId: string; fence: string; outcome: AttemptOutcome; error: string | null; finishedAt: Date }[];
}

/** Built once from the table descriptions: the same text on every call, prepared once per connection. */
const WRITE_TRANSITION = `WITH
     changed_tasks AS (
       ${updateFromJson(TASKS, 't', 1, 6)}
       RETURNING 1
     ),
     changed_runs AS (
       ${updateFromJson(RUNS, 'r', 2, 7)}
       RETURNING 1
     ),
     new_events AS (
       ${insertFromJson(RUN_EVENTS, 3)}
       RETURNING 1
     ),
     started_attempts AS (
       ${insertFromJson(TASK_ATTEMPTS, 4)}
       ON CONFLICT DO NOTHING
       RETURNING 1
     ),
     ended_attempts AS (
       ${updateFromJson(TASK_ATTEMPTS, 'a', 5, 8, ` AND a.${ident('outcome')} IS NULL`)}
       RETURNING 1
     ),
     new_tasks AS (
       ${insertFromJson(TASKS, 9)}
       RETURNING 1
     )
     SELECT 1`;

/** The fields of a run the statement reads: its key and what a transition sets (a run record carries more). */
const RUN_FIELDS = [...RUNS.primaryKey, ...RUNS.transitionUpdates] as const;

function pick<T, K extends keyof T>(row: T, keys: readonly K[]): Pick<T, K> {
  const picked = {} as Pick<T, K>;
  for (const k of keys) picked[k] = row[k];
  return picked;
}

/**
 * All writes of a transition in ONE statement (data-modifying CTEs, each over a JSON array, each
 * touching distinct rows): one round trip instead of four or five.
 *
 * Each UPDATE also names its keys as an array (`id = ANY($n)`): joined with the JSON alone, the
 * planner hashes it against a sequential scan of the whole table (it guesses 100 JSON rows), a
 * cost that grows with every run ever stored. With the array it probes the primary key.
 */
export async function writeTransition(sql: Sql, w: TransitionWrites): Promise<void> {
  if (w.tasks.length + w.created.length + w.runs.length + w.events.length + w.attemptsStarted.length + w.attemptsEnded.length === 0) return;
  await sql.rows(WRITE_TRANSITION, [
    JSON.stringify(w.tasks),
    JSON.stringify(w.runs.map((r) => pick(r, RUN_FIELDS))),
    JSON.stringify(w.events),
    JSON.stringify(w.attemptsStarted),
    JSON.stringify(w.attemptsEnded),
    w.tasks.map((t) => t.id),
    w.runs.map((r) => r.id),
    w.attemptsEnded.map((a) => a.taskId),
    JSON.stringify(w.created),
  ]);
}
