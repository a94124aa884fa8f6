/**
 * "Why is it stuck?": what a non-terminal task is waiting for, computed from durable state only
 * (the task and run rows, the step's dependencies, the queue's last poll, the lease's expiry), so
 * every replica gives the same answer and a restart changes nothing. Pure: the caller loads the
 * inputs in batches (see graphql/loaders) and passes the time in.
 */
import type { RunStatus, TaskStatus } from './glossary';
import type { TaskRecord } from './model';

export const WAIT_KINDS = [
  'DEPENDENCIES',
  'NO_WORKER',
  'DISPATCH',
  'WORKER',
  'RETRY_BACKOFF',
  'SLEEP',
  'SIGNAL',
  'CHILD_RUN',
  'ITEMS',
  'CONCURRENCY',
  'RUN_PAUSED',
  'RATE_LIMIT',
] as const;
export type WaitKind = (typeof WAIT_KINDS)[number];

/** The last time any worker polled (claimTasks) a queue of a tenant: the `queue_poll` row. */
export interface QueuePoll {
  tenantId: string;
  queue: string;
  lastPolledAt: Date;
  /** The worker that polled last. */
  workerId: string;
}

interface WaitCommon {
  taskId: string;
  taskKey: string;
  /** Since when the task has been waiting this way (its last status change), when known. */
  since: Date | null;
}

export type WaitReason = WaitCommon &
  (
    | { kind: 'DEPENDENCIES'; stepKeys: string[] }
    | { kind: 'NO_WORKER'; queue: string; lastPolledAt: Date | null; lastWorkerId: string | null }
    | { kind: 'DISPATCH'; queue: string | null; lastPolledAt: Date | null }
    | { kind: 'WORKER'; workerId: string; leaseExpiresAt: Date | null; deadlineAt: Date | null }
    | { kind: 'RETRY_BACKOFF'; until: Date; error: string | null; attempt: number }
    | { kind: 'SLEEP'; until: Date }
    /** `until`: the signal step's timeout; null: it waits for as long as it takes. */
    | { kind: 'SIGNAL'; name: string; until: Date | null }
    | { kind: 'CHILD_RUN'; childRunId: string }
    /** A forEach step's own task: its items run; `itemsLeft` of `itemCount` have not ended, `itemsActive` are QUEUED or RUNNING. */
    | { kind: 'ITEMS'; itemCount: number; itemsLeft: number; itemsActive: number }
    /**
     * Held back by a concurrency limit: `limit` names it (a forEach step's `maxConcurrency`, or
     * `workflow.concurrency` for a run waiting for a slot of its key), `max` its value; a run's wait
     * also says its `key`, its `position` among the key's waiting runs and the runs `holders` holding the slots.
     */
    | { kind: 'CONCURRENCY'; limit: string; max: number | null; key?: string; position?: number; holders?: string[] }
    | { kind: 'RUN_PAUSED'; pausedAt: Date | null }
    /** Held back by its step's rate limit (`key`) until `until`, when it may start. */
    | { kind: 'RATE_LIMIT'; key: string; until: Date }
  );

/** Statuses after which a task waits for nothing. */
const TERMINAL: ReadonlySet<TaskStatus> = new Set<TaskStatus>(['SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED']);
/** A dependency in these states lets its dependents go ahead (a SKIPPED one's output reads as null). */
const DONE: ReadonlySet<TaskStatus> = new Set<TaskStatus>(['SUCCEEDED', 'SKIPPED']);

export type WaitTask = Pick<
  TaskRecord,
  | 'id'
  | 'key'
  | 'type'
  | 'queue'
  | 'status'
  | 'attempt'
  | 'error'
  | 'workerId'
  | 'availableAt'
  | 'deadlineAt'
  | 'timerAt'
  | 'signalName'
  | 'childRunId'
  | 'parentTaskId'
  | 'itemCount'
  | 'itemsLeft'
  | 'itemsActive'
  | 'createdAt'
  | 'queuedAt'
  | 'startedAt'
  | 'rateLimitKey'
  | 'rateLimitedUntil'
>;

export interface WaitInput {
  task: WaitTask;
  runStatus: RunStatus;
  /** When the run was paused (PAUSED runs). */
  runPausedAt: Date | null;
  /** The step's `dependsOn`, in declaration order. */
  dependsOn: readonly string[];
  /** The step's `maxConcurrency` (forEach steps); absent: none. */
  maxConcurrency?: number | null;
  /** The run waits for a slot of its workflow's concurrency key; absent: it does not. */
  runConcurrency?: { key: string; max: number; position: number; holders: string[] };
  /** The status of each task of the run by step key. */
  statusByKey: ReadonlyMap<string, TaskStatus>;
  /** The task queue's last poll (queue steps only); undefined when no worker ever polled it. */
  poll: QueuePoll | undefined;
  /** When the current attempt's lease expires by the lease store (RUNNING only); null when it holds none. */
  leaseExpiresAt: Date | null;
  now: Date;
  /** A queue no worker polled for this long has NO_WORKER (NO_WORKER_AFTER_MS). */
  noWorkerAfterMs: number;
}

/** What the task waits for; null when it is finished (SUCCEEDED, FAILED, CANCELLED, SKIPPED). */
export function waitReasonOf(input: WaitInput): WaitReason | null {
  const { task, now } = input;
  if (TERMINAL.has(task.status)) return null;
  const common = { taskId: task.id, taskKey: task.key };
  // A paused run starts nothing and fires no timer until resumeRun: whatever is not running under
  // a worker or waiting for a signal (delivered while paused too) waits for the resume.
  const paused = { ...common, since: input.runPausedAt, kind: 'RUN_PAUSED' as const, pausedAt: input.runPausedAt };
  const isPaused = input.runStatus === 'PAUSED';
  switch (task.status) {
    case 'PENDING':
      if (isPaused) return paused;
      // An item of a forEach step waits for a free place under the step's maxConcurrency.
      if (task.parentTaskId !== null) {
        return { ...common, since: task.createdAt, kind: 'CONCURRENCY', limit: 'maxConcurrency', max: input.maxConcurrency ?? null };
      }
      // Every step of a run waiting for a slot of its concurrency key waits for that slot first.
      if (input.runConcurrency) {
        const { key, max, position, holders } = input.runConcurrency;
        return { ...common, since: task.createdAt, kind: 'CONCURRENCY', limit: 'workflow.concurrency', max, key, position, holders };
      }
      return {
        ...common,
        since: task.createdAt,
        kind: 'DEPENDENCIES',
        stepKeys: input.dependsOn.filter((k) => !DONE.has(input.statusByKey.get(k) ?? 'PENDING')),
      };
    case 'QUEUED': {
      const since = task.queuedAt;
      if (isPaused) return paused;
      if (task.availableAt && task.availableAt.getTime() > now.getTime()) {
        // A claim held it back for its rate limit: it set both to the instant it may start.
        if (task.rateLimitKey !== null && task.rateLimitedUntil?.getTime() === task.availableAt.getTime()) {
          return { ...common, since, kind: 'RATE_LIMIT', key: task.rateLimitKey, until: task.availableAt };
        }
        return { ...common, since, kind: 'RETRY_BACKOFF', until: task.availableAt, error: task.error, attempt: task.attempt };
      }
      if (task.queue === null) return { ...common, since, kind: 'DISPATCH', queue: null, lastPolledAt: null };
      const lastPolledAt = input.poll?.lastPolledAt ?? null;
      if (lastPolledAt === null || now.getTime() - lastPolledAt.getTime() >= input.noWorkerAfterMs) {
        return { ...common, since, kind: 'NO_WORKER', queue: task.queue, lastPolledAt, lastWorkerId: input.poll?.workerId ?? null };
      }
      return { ...common, since, kind: 'DISPATCH', queue: task.queue, lastPolledAt };
    }
    case 'RUNNING':
      // A signal step parks its attempt (no lease) until signalRun or its timeout (`timerAt`).
      if (task.signalName !== null) return { ...common, since: task.startedAt, kind: 'SIGNAL', name: task.signalName, until: task.timerAt };
      // A `workflow` step's attempt waits for the child run it started (which a pause does not stop).
      if (task.childRunId !== null) return { ...common, since: task.startedAt, kind: 'CHILD_RUN', childRunId: task.childRunId };
      // A forEach step's own task runs no attempt: it waits for its items (each has its own waitingFor).
      if (task.itemsLeft !== null) {
        return {
          ...common,
          since: task.startedAt,
          kind: 'ITEMS',
          itemCount: task.itemCount ?? 0,
          itemsLeft: task.itemsLeft,
          itemsActive: task.itemsActive ?? 0,
        };
      }
      // A built-in sleep parks its attempt on a durable timer: it waits for the time, not a worker.
      if (task.timerAt !== null && task.type === 'sleep') {
        // A timer due while the run is paused fires on resume.
        if (isPaused && task.timerAt.getTime() <= now.getTime()) return paused;
        return { ...common, since: task.startedAt, kind: 'SLEEP', until: task.timerAt };
      }
      return {
        ...common,
        since: task.startedAt,
        kind: 'WORKER',
        workerId: task.workerId ?? 'unknown',
        leaseExpiresAt: input.leaseExpiresAt,
        deadlineAt: task.deadlineAt,
      };
  }
  return null;
}
