/**
 * Terminology, defined once.
 *
 * - **Workflow**: a named DAG of steps registered by a tenant. Each change to its definition
 *   creates the next integer **version**; an identical definition returns the existing version.
 * - **Step**: one node of the DAG: a `key` unique in the workflow, a `type`, optional `queue`,
 *   `dependsOn` edges, an `input` template, a retry policy and a per-attempt timeout.
 * - **Run**: one execution of one workflow version with an input.
 * - **Task**: one step of one run. Tasks move PENDING (waiting on dependencies) → QUEUED (ready)
 *   → RUNNING → SUCCEEDED | FAILED | CANCELLED, or PENDING → SKIPPED when its `when` condition is
 *   false (it never runs; its output reads as null to the steps after it).
 * - **Attempt**: one try at executing a task; `attempt` counts from 1 and keeps counting across
 *   retries, faults and `retryRun` (only a RELEASED attempt gives its number back).
 * - **Failure** vs **fault**: an attempt ends in a *failure* of the step when its holder reports
 *   one or the step's `timeoutMs` passes; that counts against `retry.maxAttempts`. It ends in a
 *   *fault* of the system when its lease expires (the worker or replica died, froze, or could not
 *   record its result): that counts against `retry.maxFaults` instead, never against maxAttempts.
 * - **Lease**: the right to execute one attempt, held by one worker until it expires.
 * - **Fencing token**: a number that only ever increases, issued with each claim; a completion is
 *   accepted only with the task's current token (Kleppmann, "How to do distributed locking"). The
 *   lease token a worker holds is `<fence>.<secret>` (domain/lease-token.ts): the number orders,
 *   the secret proves the claim was handed to the caller.
 * - **Worker**: what executes tasks: a built-in executor in the conductor (steps without a queue)
 *   or a remote process claiming from a **queue** over the API.
 * - **Fan-out**: a step with `forEach` runs once per item of a list. Its own task is the **fan
 *   task** (RUNNING, held by no worker, while its items run); each item is an **item task**
 *   (`parentTaskId` the fan task, `itemIndex`, `item`) of the same key, type and queue. The fan
 *   task's output is the item outputs in item order.
 * - **Signal**: a named message sent to a run (`signalRun`) that a `signal` step waits for. Kept
 *   in Postgres until a step of that name consumes it, first sent first consumed per name.
 * - **Event**: an append-only record of a run or task status change, numbered per run by `seq`.
 */
import type { RateLimit } from './rate-limits';
/** PAUSED (pauseRun): nothing new starts until resumeRun; running attempts finish. Not terminal. */
export const RUN_STATUSES = ['PENDING', 'RUNNING', 'PAUSED', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const TASK_STATUSES = ['PENDING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * How a task is tried again. Two budgets, kept apart so a fault of the system never costs the
 * step one of its own attempts:
 *
 * - the step's own failures (the holder reported a failure, the step timed out) count against
 *   `maxAttempts` and wait a jittered exponential backoff
 *   (`min(maxDelayMs, initialDelayMs × backoffFactor^(n−1))`, then ±20 %, never above maxDelayMs);
 * - faults of the system (the lease expired: the worker or conductor replica died, froze, or could
 *   not record a result) count against `maxFaults` and queue the task again at once (the lease's
 *   TTL already spaced it out). A poison task that kills every worker taking it still ends: it
 *   fails after `maxFaults + 1` faults.
 */
export interface RetryPolicy {
  /** Attempts that may fail (the step's own failures), the first included. @default 3 */
  maxAttempts: number;
  /** Delay before the second attempt. @default 1000 */
  initialDelayMs: number;
  /** Each further delay is the previous one times this. @default 2 */
  backoffFactor: number;
  /** Upper bound of one delay. @default 60000 */
  maxDelayMs: number;
  /**
   * Faults of the system (expired leases) a task survives; the next one fails it. Definitions
   * stored before this field existed read as the default. @default 10
   */
  maxFaults: number;
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
  /**
   * Fan-out: a CEL expression or a single `{{ … }}` template yielding a JSON array; the step runs once per item, each
   * item a task of its own (its input may read `{{ item }}` and `{{ index }}`). Absent: one task.
   * Left out of the definition when unset, so definitions stored before it hash the same.
   */
  forEach?: string;
  /** Item tasks QUEUED or RUNNING at once; absent: all of them. Only with forEach. */
  maxConcurrency?: number;
  /** A failed item (after its retries) yields null instead of failing the step. Only with forEach. @default false */
  continueOnItemFailure?: boolean;
  /**
   * A CEL condition over `input` and `steps.<key>.output` of its dependencies, evaluated when
   * they are all done: false skips the step (SKIPPED). Absent (never null) when the step has
   * none, so definitions without conditions hash as they did before conditions existed.
   */
  when?: string;
  /** At most `limit` of its tasks per `periodMs` per key (src/domain/rate-limits.ts). Absent when unset. */
  rateLimit?: RateLimit;
  /** Overrides the run's priority for this step's tasks, 1 to 3 (src/domain/priorities.ts). Absent when unset. */
  priority?: number;
  /** Tasks of this step RUNNING at once per key, across the workflow's runs (QUEUE or ROUND_ROBIN). Absent when none. */
  concurrency?: ConcurrencyPolicy;
}

/** How a run that finds its concurrency key's group full is handled (src/domain/concurrency.ts). */
export type ConcurrencyStrategy = 'QUEUE' | 'CANCEL_IN_PROGRESS' | 'CANCEL_NEWEST' | 'ROUND_ROBIN';

/** A workflow's `concurrency`: runs in flight per key. */
export interface ConcurrencyPolicy {
  /** CEL over `input` yielding a string, int or bool; absent: every run is in one group. */
  key?: string;
  /** Runs in flight per key, 1 to MAX_CONCURRENCY_MAX. */
  max: number;
  strategy: ConcurrencyStrategy;
}

export interface WorkflowDefinition {
  description: string | null;
  /**
   * JSON Schema (draft 2020-12) every run input must fit. Absent (not null) when none: definitions
   * without one hash as they did before the field existed.
   */
  inputSchema?: Json;
  /** Bound of a whole run, start to finish. Null: no bound. */
  timeoutMs: number | null;
  steps: StepDefinition[];
  /** Runs in flight per concurrency key (src/domain/concurrency.ts). Absent when none: definitions without it hash as before. */
  concurrency?: ConcurrencyPolicy;
  /** Events that start a run (triggers.ts). Absent when none: definitions without it hash as before. */
  on?: TriggerDefinition[];
}

/** One entry of `WorkflowDefinition.on`: a run starts when an event of this name arrives (triggers.ts). */
export interface TriggerDefinition {
  /** The event name that starts a run. */
  event: string;
  /** CEL over `payload` yielding bool; absent: every event of the name. */
  filter?: string;
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
  forEach?: string | null;
  maxConcurrency?: number | null;
  continueOnItemFailure?: boolean | null;
  when?: string | null;
  rateLimit?: RateLimit | null;
  priority?: number | null;
  concurrency?: { key?: string | null; max?: number | null; strategy?: string | null } | null;
}

export interface WorkflowDraft {
  name: string;
  description?: string | null;
  inputSchema?: Json | null;
  timeoutMs?: number | null;
  steps: StepDraft[];
  on?: { event: string; filter?: string | null }[] | null;
  concurrency?: { key?: string | null; max?: number | null; strategy?: string | null } | null;
}

/**
 * The policy of every step (built-in and queue) that does not set its own, field by field: 3
 * attempts, 1 s then 2 s between them (each ±20 % jitter), delays capped at 60 s, and 10 faults
 * of the system tolerated. What Netflix Conductor defaults to (3 attempts); Temporal retries
 * activities without limit, which a poison task would abuse.
 */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 3,
  initialDelayMs: 1000,
  backoffFactor: 2,
  maxDelayMs: 60_000,
  maxFaults: 10,
});

/** A step's fault budget; definitions stored before `maxFaults` existed have none and get the default. */
export function maxFaultsOf(policy: Partial<RetryPolicy>): number {
  return policy.maxFaults ?? DEFAULT_RETRY.maxFaults;
}
