/**
 * Schedules, pure: cron expressions and their fire times (croner, never its timers: the
 * conductor's own durable pass fires), the catch-up plan after downtime, and the overlap decision.
 *
 * - **Schedule**: a tenant's cron expression in an IANA time zone that starts runs of a workflow.
 * - **Fire time**: one instant the expression names. Each fire time of a schedule starts at most
 *   one run, across every replica: `schedule_fires` has one row per (schedule, fire time).
 * - **Overlap**: what a fire does while a run of the schedule is unfinished (Temporal's names).
 * - **Catch-up**: fire times missed while no replica fired them: within `catchupWindowMs` of now
 *   each is fired (subject to overlap), older ones are skipped and counted as missed, as
 *   Temporal's catchupWindow does.
 */
import { Cron } from 'croner';
import { ValidationError } from './errors';
import type { Json } from './glossary';

export const OVERLAP_POLICIES = ['SKIP', 'BUFFER_ONE', 'ALLOW_ALL', 'CANCEL_PREVIOUS'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/**
 * A fire's state: PENDING (decided, its run not yet started), BUFFERED (BUFFER_ONE: waits for the
 * unfinished run), STARTED (its run exists), SKIPPED (overlap SKIP, or a second buffered fire),
 * FAILED (the start was refused: workflow gone, quota, input; `error` says why).
 */
export type FireStatus = 'PENDING' | 'BUFFERED' | 'STARTED' | 'SKIPPED' | 'FAILED';
/** What made a fire: the cron pass, triggerSchedule, or backfillSchedule. */
export type FireSource = 'CRON' | 'TRIGGER' | 'BACKFILL';

/** Temporal's default catch-up window: one minute. */
export const DEFAULT_CATCHUP_WINDOW_MS = 60_000;
/** Fire-time steps one schedule takes in one pass (missed ones included): bounds a transaction after a long outage. */
export const MAX_STEPS_PER_PASS = 1_000;

export interface ScheduleRecord {
  id: string;
  tenantId: string;
  workflow: string;
  /** null: the latest version at fire time. */
  version: number | null;
  cron: string;
  timezone: string;
  input: Json;
  overlap: OverlapPolicy;
  paused: boolean;
  startAt: Date | null;
  endAt: Date | null;
  catchupWindowMs: number;
  /** The next fire time the pass will take; null when paused or past endAt. */
  nextFireAt: Date | null;
  /** Fire times skipped by the overlap policy. */
  skippedCount: number;
  /** Fire times skipped as older than the catch-up window. */
  missedCount: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface ScheduleFireRecord {
  id: string;
  tenantId: string;
  scheduleId: string;
  fireTime: Date;
  source: FireSource;
  status: FireStatus;
  runId: string | null;
  error: string | null;
  /** Set with a PENDING fire of CANCEL_PREVIOUS: the unfinished runs are cancelled before its start. */
  cancelPrevious: boolean;
  /** A replica starting this fire holds it until then (a crash mid-start lets another take it over). */
  claimedUntil: Date | null;
  /** When it stopped counting for overlap (SKIPPED, FAILED, or its run seen finished); null while it counts. */
  settledAt: Date | null;
  createdAt: Date;
}

/** What a cron schedule needs to answer its fire times. */
export interface CronSpec {
  cron: string;
  timezone: string;
  startAt?: Date | null;
  endAt?: Date | null;
}

/** An IANA zone name the runtime knows ("UTC", "Europe/Berlin"); anything else is BAD_USER_INPUT. */
export function checkTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ValidationError(`timezone "${timezone}" is not an IANA time zone: use a name such as "UTC", "America/New_York" or "Europe/Berlin"`, {
      field: 'timezone',
      reason: 'INVALID_TIMEZONE',
    });
  }
}

/**
 * A paused croner job (it never starts a timer): five fields (minute precision) or six (seconds
 * first). DST as croner documents: a time in a spring-forward gap fires at the first valid time
 * after it, a time that occurs twice in a fall-back fires once.
 */
export function compileCron(spec: CronSpec): Cron {
  checkTimezone(spec.timezone);
  const fields = spec.cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw new ValidationError(`cron "${spec.cron}" has ${fields} fields: give five (minute hour day month weekday) or six (seconds first)`, {
      field: 'cron',
      reason: 'INVALID_CRON',
    });
  }
  try {
    return new Cron(spec.cron, {
      paused: true,
      timezone: spec.timezone,
      mode: '5-or-6-parts',
      ...(spec.startAt ? { startAt: spec.startAt } : {}),
      ...(spec.endAt ? { stopAt: spec.endAt } : {}),
    });
  } catch (e: unknown) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ValidationError(`cron "${spec.cron}" is not a valid cron expression (${why}): give five fields such as "*/5 * * * *" or six with seconds first`, {
      field: 'cron',
      reason: 'INVALID_CRON',
    });
  }
}

/** The first fire time strictly after `after` (null: none, past endAt). */
export function nextFireAfter(cron: Cron, after: Date): Date | null {
  return cron.nextRun(after) ?? null;
}

/** Up to `count` fire times strictly after `after`. */
export function nextFireTimes(cron: Cron, after: Date, count: number): Date[] {
  return cron.nextRuns(count, after);
}

/**
 * The first fire time at or after `from`: croner's nextRun is strictly after, so look from a
 * millisecond before.
 */
export function firstFireAtOrAfter(cron: Cron, from: Date): Date | null {
  return nextFireAfter(cron, new Date(from.getTime() - 1));
}

/** Fire times in [from, to), at most `max + 1` (one more tells the caller the range holds too many). */
export function fireTimesBetween(cron: Cron, from: Date, to: Date, max: number): Date[] {
  const out: Date[] = [];
  let t = firstFireAtOrAfter(cron, from);
  while (t && t < to && out.length <= max) {
    out.push(t);
    t = nextFireAfter(cron, t);
  }
  return out;
}

/** What a pass does with a due schedule: the fire times to fire now, how many it skips as missed, and the next one. */
export interface CatchUpPlan {
  fire: Date[];
  missed: number;
  next: Date | null;
}

/**
 * From the stored `nextFireAt` up to `now`: fire times within the catch-up window are fired,
 * older ones are missed. At most MAX_STEPS_PER_PASS steps: a longer backlog leaves `next` in the
 * past, and the next pass continues from there.
 */
export function planCatchUp(cron: Cron, nextFireAt: Date, now: Date, catchupWindowMs: number, maxSteps = MAX_STEPS_PER_PASS): CatchUpPlan {
  const oldest = now.getTime() - catchupWindowMs;
  const fire: Date[] = [];
  let missed = 0;
  let t: Date | null = nextFireAt;
  for (let steps = 0; t && t <= now && steps < maxSteps; steps++) {
    if (t.getTime() < oldest) missed++;
    else fire.push(t);
    t = nextFireAfter(cron, t);
  }
  return { fire, missed, next: t };
}

/** What the schedule has going when a fire time comes due. */
export interface OverlapState {
  /** Fires of the schedule that are PENDING, or STARTED with an unfinished run. */
  unfinished: number;
  /** A BUFFERED fire waits already. */
  buffered: boolean;
}

export type OverlapDecision = { status: 'PENDING'; cancelPrevious: boolean } | { status: 'BUFFERED' } | { status: 'SKIPPED' };

/**
 * Temporal's overlap policies. SKIP: nothing while a run is unfinished. BUFFER_ONE: one fire
 * waits for it, a further one is skipped. ALLOW_ALL: always start. CANCEL_PREVIOUS: cancel the
 * unfinished runs, then start.
 */
export function decideOverlap(policy: OverlapPolicy, state: OverlapState): OverlapDecision {
  const busy = state.unfinished > 0;
  switch (policy) {
    case 'ALLOW_ALL':
      return { status: 'PENDING', cancelPrevious: false };
    case 'SKIP':
      return busy ? { status: 'SKIPPED' } : { status: 'PENDING', cancelPrevious: false };
    case 'BUFFER_ONE':
      if (!busy && !state.buffered) return { status: 'PENDING', cancelPrevious: false };
      return state.buffered ? { status: 'SKIPPED' } : { status: 'BUFFERED' };
    case 'CANCEL_PREVIOUS':
      return { status: 'PENDING', cancelPrevious: busy };
    default: {
      const exhaustive: never = policy;
      return exhaustive;
    }
  }
}

/** The idempotency key of a fire's run: one run per (schedule, fire time), also if its start is retried. */
export function fireIdempotencyKey(scheduleId: string, fireTime: Date): string {
  return `schedule:${scheduleId}:${fireTime.toISOString()}`;
}
