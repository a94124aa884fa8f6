/**
 * The engine's hooks: typed events emitted after a transition commits. Metrics, logs, traces and
 * tests subscribe; nothing that emits them depends on who listens. A bottom module, so
 * observability imports it without pointing up at the services.
 */
import { EventEmitter } from 'node:events';
import type { AttemptCause, AttemptOutcome } from './model';

/** What every hook about one task attempt carries (log fields, metric labels, trace). */
export interface TaskHook {
  tenantId: string;
  runId: string;
  taskId: string;
  key: string;
  attempt: number;
  workflow: string;
  traceparent: string | null;
}

/**
 * What every hook about a lease carries: the ids the runbook searches logs by (`runId`, `taskId`,
 * `tenantId`, `workflow`). `runId` and `workflow` are null only when the task is not the
 * caller's (a renewal naming another tenant's task).
 */
export interface LeaseHook {
  tenantId: string;
  runId: string | null;
  taskId: string;
  workflow: string | null;
  fence: string;
}

export interface EngineHookMap {
  'run:created': [{ tenantId: string; runId: string; workflow: string; traceparent: string | null }];
  'run:started': [{ tenantId: string; runId: string; workflow: string; traceparent: string | null }];
  'run:finished': [
    { tenantId: string; runId: string; workflow: string; status: string; error: string | null; durationMs: number | null; traceparent: string | null },
  ];
  'task:claimed': [TaskHook & { queue: string | null; workerId: string; waitedMs: number | null }];
  /** A claim transaction of the claim statement ended (also an empty one: nothing was ready). */
  'claim:committed': [{ queue: string | null; workerId: string; claimed: number }];
  /** Tasks a claim took could not be handed over (the caller went away first): given back, uncounted. */
  'claim:undelivered': [{ workerId: string; taskIds: string[] }];
  /** A reaper pass's reclaim transaction ended: leases it was handed, and how many were still current and reclaimed. */
  'reclaim:committed': [{ tried: number; reclaimed: number }];
  /** Something time-driven was scheduled (a retry delay, an attempt or run deadline): the local scheduler arms a wake-up. */
  'timer:armed': [{ at: Date }];
  /** A running attempt was parked on its durable timer (a `sleep` step), due at `at`. */
  'timer:parked': [{ taskId: string; at: Date }];
  /** A signal was delivered to a run (signalRun): to a waiting step at once (`consumed`), or kept for one to come. */
  'signal:sent': [{ tenantId: string; runId: string; workflow: string; name: string; consumed: boolean }];
  /** A `signal` step's attempt parked waiting for its signal (a pending one was not there), until `timeoutAt` (null: no timeout). */
  'signal:parked': [{ taskId: string; runId: string; name: string; timeoutAt: Date | null }];
  /** A run was paused or resumed. */
  'run:paused': [{ tenantId: string; runId: string; workflow: string }];
  'run:resumed': [{ tenantId: string; runId: string; workflow: string; pausedMs: number }];
  'task:fenced': [LeaseHook];
  'task:reclaimed': [LeaseHook];
  'lease:renew-failed': [LeaseHook & { reason: string }];
  'task:finished': [TaskHook & { status: string; error: string | null }];
  /** A schedule's fire started its run; `lagMs`: from the fire time to the start (CRON fires are what the lag histogram measures). */
  'schedule:fired': [{ source: 'CRON' | 'TRIGGER' | 'BACKFILL'; lagMs: number }];
  /** A fire's start was refused (workflow gone, quota, input): the fire is FAILED with the reason. */
  'schedule:failed': [{ source: 'CRON' | 'TRIGGER' | 'BACKFILL' }];
  /** Fire times skipped by an overlap policy (SKIP, or BUFFER_ONE with one buffered already). */
  'schedule:skipped': [{ count: number }];
  /** Fire times older than the catch-up window when a pass came to them: not fired, counted. */
  'schedule:missed': [{ count: number }];
  /** An attempt ended (committed), and whose fault its end was: the step's own, the system's, or nobody's. */
  'attempt:ended': [{ taskId: string; fence: string; outcome: AttemptOutcome; cause: AttemptCause }];
  /** An event was accepted (publishEvent: EVENT, a webhook: WEBHOOK); `runsStarted` 0 for a duplicate. */
  'event:received': [{ tenantId: string; eventId: string; source: 'EVENT' | 'WEBHOOK'; duplicate: boolean; runsStarted: number }];
}

export class EngineHooks extends EventEmitter<EngineHookMap> {}
