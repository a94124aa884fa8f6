/**
 * Terminology, defined once.
 *
 * - **Workflow**: a named DAG of steps registered by a tenant. Each change to its definition
 *   creates the next integer **version**; an identical definition returns the existing version.
 * - **Step**: one node of the DAG: a `key` unique in the workflow, a `type`, optional `queue`,
 *   `dependsOn` edges, an `input` template, a retry policy and a per-attempt timeout.
 * - **Run**: one execution of one workflow version with an input.
 * - **Task**: one step of one run. Tasks move PENDING (waiting on dependencies) → QUEUED (ready)
 *   → RUNNING → SUCCEEDED | FAILED | CANCELLED.
 * - **Attempt**: one try at executing a task; `attempt` counts from 1.
 * - **Lease**: the right to execute one attempt, held by one worker until it expires.
 * - **Fencing token**: a number that only ever increases, issued with each claim; a completion is
 *   accepted only with the task's current token (Kleppmann, "How to do distributed locking").
 * - **Worker**: what executes tasks: a built-in executor in the conductor (steps without a queue)
 *   or a remote process claiming from a **queue** over the API.
 * - **Event**: an append-only record of a run or task status change, numbered per run by `seq`.
 */
export const RUN_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const TASK_STATUSES = ['PENDING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface RetryPolicy {
  /** Attempts in all, the first included. @default 1 */
  maxAttempts: number;
  /** Delay before the second attempt. @default 1000 */
  initialDelayMs: number;
  /** Each further delay is the previous one times this. @default 2 */
  backoffFactor: number;
  /** Upper bound of one delay. @default 60000 */
  maxDelayMs: number;
}

export interface StepDefinition {
  key: string;
  type: string;
  /** Remote workers claim the step from this queue; without one the type must be built in. */
  queue: string | null;
  dependsOn: string[];
  input: Json;
  retry: RetryPolicy;
  /** Bound of one attempt, start to finish. Null: no bound. */
  timeoutMs: number | null;
}

export interface WorkflowDefinition {
  description: string | null;
  /** Bound of a whole run, start to finish. Null: no bound. */
  timeoutMs: number | null;
  steps: StepDefinition[];
}

/** What a caller may leave out of a step; `normalizeDefinition` fills the defaults. */
export interface StepDraft {
  key: string;
  type: string;
  queue?: string | null;
  dependsOn?: string[] | null;
  input?: Json;
  retry?: Partial<RetryPolicy> | null;
  timeoutMs?: number | null;
}

export interface WorkflowDraft {
  name: string;
  description?: string | null;
  timeoutMs?: number | null;
  steps: StepDraft[];
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 1,
  initialDelayMs: 1000,
  backoffFactor: 2,
  maxDelayMs: 60_000,
});
