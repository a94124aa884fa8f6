import type { AttemptOutcome, AttemptRecord, RunEvent, RunRecord } from '../domain/model';
import type { TaskState } from '../domain/run-machine';
import type { Sql } from './sql';

/** Everything one transaction of the engine writes: changed tasks and runs, new events, attempts begun and ended. */
export interface TransitionWrites {
  tasks: readonly TaskState[];
  runs: readonly Pick<RunRecord, 'id' | 'status' | 'output' | 'error' | 'lastSeq' | 'startedAt' | 'finishedAt' | 'deadlineAt'>[];
  events: readonly RunEvent[];
  attemptsStarted: readonly Pick<AttemptRecord, 'taskId' | 'fence' | 'attempt' | 'runId' | 'tenantId' | 'workerId' | 'startedAt'>[];
  attemptsEnded: readonly { taskId: string; fence: string; outcome: AttemptOutcome; error: string | null; finishedAt: Date }[];
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
  if (w.tasks.length + w.runs.length + w.events.length + w.attemptsStarted.length + w.attemptsEnded.length === 0) return;
  await sql.rows(
    `WITH
     changed_tasks AS (
       UPDATE tasks t SET status = p.status, attempt = p.attempt, fence = p.fence, input = p.input, output = p.output,
         error = p.error, "workerId" = p."workerId", "availableAt" = p."availableAt", "timerAt" = p."timerAt",
         "deadlineAt" = p."deadlineAt", "queuedAt" = p."queuedAt", "startedAt" = p."startedAt", "finishedAt" = p."finishedAt"
       FROM jsonb_to_recordset($1::jsonb) AS p(id uuid, status text, attempt int, fence bigint, input jsonb, output jsonb,
         error text, "workerId" text, "availableAt" timestamptz, "timerAt" timestamptz, "deadlineAt" timestamptz,
         "queuedAt" timestamptz, "startedAt" timestamptz, "finishedAt" timestamptz)
       WHERE t.id = p.id AND t.id = ANY($6::uuid[])
       RETURNING 1
     ),
     changed_runs AS (
       UPDATE runs r SET status = p.status, output = p.output, error = p.error, "lastSeq" = p."lastSeq",
         "startedAt" = p."startedAt", "finishedAt" = p."finishedAt", "deadlineAt" = p."deadlineAt"
       FROM jsonb_to_recordset($2::jsonb) AS p(id uuid, status text, output jsonb, error text, "lastSeq" int,
         "startedAt" timestamptz, "finishedAt" timestamptz, "deadlineAt" timestamptz)
       WHERE r.id = p.id AND r.id = ANY($7::uuid[])
       RETURNING 1
     ),
     new_events AS (
       INSERT INTO run_events ("runId", seq, "tenantId", "workflowName", type, status, "taskId", "taskKey", attempt, data, "createdAt")
       SELECT "runId", seq, "tenantId", "workflowName", type, status, "taskId", "taskKey", attempt, data, "createdAt"
       FROM jsonb_to_recordset($3::jsonb) AS e("runId" uuid, seq int, "tenantId" text, "workflowName" text, type text, status text,
         "taskId" uuid, "taskKey" text, attempt int, data jsonb, "createdAt" timestamptz)
       RETURNING 1
     ),
     started_attempts AS (
       INSERT INTO task_attempts ("taskId", fence, attempt, "runId", "tenantId", "workerId", "startedAt")
       SELECT "taskId", fence, attempt, "runId", "tenantId", "workerId", "startedAt"
       FROM jsonb_to_recordset($4::jsonb) AS a("taskId" uuid, fence bigint, attempt int, "runId" uuid, "tenantId" text,
         "workerId" text, "startedAt" timestamptz)
       ON CONFLICT DO NOTHING
       RETURNING 1
     ),
     ended_attempts AS (
       UPDATE task_attempts a SET outcome = p.outcome, error = p.error, "finishedAt" = p."finishedAt"
       FROM jsonb_to_recordset($5::jsonb) AS p("taskId" uuid, fence bigint, outcome text, error text, "finishedAt" timestamptz)
       WHERE a."taskId" = p."taskId" AND a.fence = p.fence AND a.outcome IS NULL AND a."taskId" = ANY($8::uuid[])
       RETURNING 1
     )
     SELECT 1`,
    [
      JSON.stringify(w.tasks),
      JSON.stringify(
        w.runs.map((r) => ({
          id: r.id,
          status: r.status,
          output: r.output,
          error: r.error,
          lastSeq: r.lastSeq,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
          deadlineAt: r.deadlineAt,
        })),
      ),
      JSON.stringify(w.events),
      JSON.stringify(w.attemptsStarted),
      JSON.stringify(w.attemptsEnded),
      w.tasks.map((t) => t.id),
      w.runs.map((r) => r.id),
      w.attemptsEnded.map((a) => a.taskId),
    ],
  );
}
