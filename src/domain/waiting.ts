/**
 * "Why is it stuck?": what a non-terminal task is waiting for, computed from durable state only
 * (the task and run rows, the step's dependencies, the queue's last poll, the lease's expiry), so
 * every replica gives the same answer and a restart changes nothing. Pure: the caller loads the
 * inputs in batches (see graphql/loaders) and passes the time in.
 */
import type { RunStatus, TaskStatus } from './glossary';
import type { TaskRecord } from './model';

export const WAIT_KINDS = ['DEPENDENCIES', 'NO_WORKER', 'DISPATCH', 'WORKER', 'RETRY_BACKOFF', 'SLEEP'] as const;
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
  );

/** Statuses after which a task waits for nothing. */
const TERMINAL: ReadonlySet<TaskStatus> = new Set<TaskStatus>(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const DONE: ReadonlySet<TaskStatus> = new Set<TaskStatus>(['SUCCEEDED']);

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
  | 'createdAt'
  | 'queuedAt'
  | 'startedAt'
>;

export interface WaitInput {
  task: WaitTask;
  runStatus: RunStatus;
  /** The step's `dependsOn`, in declaration order. */
  dependsOn: readonly string[];
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

/** What the task waits for; null when it is finished (SUCCEEDED, FAILED, CANCELLED). */
export function waitReasonOf(input: WaitInput): WaitReason | null {
  const { task, now } = input;
  if (TERMINAL.has(task.status)) return null;
  const common = { taskId: task.id, taskKey: task.key };
  switch (task.status) {
    case 'PENDING':
      return {
        ...common,
        since: task.createdAt,
        kind: 'DEPENDENCIES',
        stepKeys: input.dependsOn.filter((k) => !DONE.has(input.statusByKey.get(k) ?? 'PENDING')),
      };
    case 'QUEUED': {
      const since = task.queuedAt;
      if (task.availableAt && task.availableAt.getTime() > now.getTime()) {
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
      // A built-in sleep parks its attempt on a durable timer: it waits for the time, not a worker.
      if (task.timerAt !== null && task.type === 'sleep') return { ...common, since: task.startedAt, kind: 'SLEEP', until: task.timerAt };
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
