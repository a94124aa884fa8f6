import type { Clock } from '../domain/clock';
import { DomainError, coerceError } from '../domain/errors';
import type { EngineHooks } from '../domain/hooks';
import type { RunRecord } from '../domain/model';
import { compileCron, decideOverlap, fireIdempotencyKey, planCatchUp, type ScheduleFireRecord, type ScheduleRecord } from '../domain/schedules';
import {
  advanceSchedule,
  claimDueSchedules,
  claimPendingFires,
  findScheduleById,
  finishFire,
  insertFires,
  nextScheduleWork,
  overlapState,
  promoteBuffered,
  scheduleWorkNow,
  unfinishedRunsOf,
  type NewFire,
} from '../store/schedules.store';
import type { Database, Sql } from '../store/sql';
import type { RunsService } from './runs.service';

/** Runs watched for their end at most: one that finishes on another replica is never seen here, so the oldest make room. */
const MAX_WATCHED = 10_000;
/** Schedules one decide transaction locks at most. */
const DUE_BATCH = 50;
/** PENDING fires one start batch takes. */
const START_BATCH = 50;
/** How long a replica holds a fire it is starting: past it, another replica may start it (the same run, by its idempotency key). */
export const FIRE_CLAIM_MS = 30_000;

export interface ScheduleFiringDeps {
  db: Database;
  runs: RunsService;
  clock: Clock;
  hooks: EngineHooks;
  /** A fire's start failed for a reason other than a refusal (it stays PENDING and is retried). */
  onError: (e: unknown) => void;
}

/**
 * The scheduler pass of schedules, durable in Postgres. Decide: lock due schedules (FOR UPDATE
 * SKIP LOCKED), plan their fire times (catch-up, overlap), insert one fire row per fire time
 * (unique per schedule and time) and advance `nextFireAt`, in one transaction. Start: take the
 * PENDING fires and start each one's run through RunsService.start with an idempotency key of
 * the schedule and fire time, so a start retried after a crash is still one run.
 */
export class ScheduleFiring {
  /**
   * Runs started by fires here whose end may let a buffered or skipped schedule move: their
   * `run:finished` asks for a pass at once (other replicas' runs: the poll interval).
   */
  private readonly watched = new Set<string>();
  private onWatchedFinished: (() => void) | null = null;

  constructor(private readonly deps: ScheduleFiringDeps) {
    deps.hooks.on('run:finished', (e) => {
      if (this.watched.delete(e.runId)) this.onWatchedFinished?.();
    });
  }

  /** Called when a run a fire started here finishes (the loop requests a pass). */
  onRunFinished(fn: () => void): void {
    this.onWatchedFinished = fn;
  }

  private watch(runId: string): void {
    this.watched.add(runId);
    // A Set iterates in insertion order: the first is the oldest.
    if (this.watched.size > MAX_WATCHED) this.watched.delete(this.watched.values().next().value!);
  }

  /** One pass; `more`: a batch came back full, pass again at once. */
  async pass(): Promise<{ decided: number; started: number; more: boolean }> {
    const now = this.deps.clock.now();
    // Most passes (the poll fallback) find nothing: one read instead of a transaction and a claim.
    const work = await scheduleWorkNow(this.deps.db, now);
    const { decided, skipped, missed } = work.decide ? await this.decideDue(now) : { decided: 0, skipped: 0, missed: 0 };
    if (skipped) this.deps.hooks.emit('schedule:skipped', { count: skipped });
    if (missed) this.deps.hooks.emit('schedule:missed', { count: missed });
    // Decided just now, or left by another pass: either way the claim below finds them.
    const fires = !work.start && decided === 0 ? [] : await claimPendingFires(this.deps.db, now, new Date(now.getTime() + FIRE_CLAIM_MS), START_BATCH);
    for (const fire of fires) {
      // One fire's fault (the database gone a moment) leaves it PENDING for a later pass, not the others unstarted.
      await this.start(fire).catch((e: unknown) => this.deps.onError(e));
    }
    return { decided, started: fires.length, more: decided >= DUE_BATCH || fires.length >= START_BATCH };
  }

  /** The decide transaction: due schedules locked (SKIP LOCKED), each one's fire times decided. */
  private decideDue(now: Date): Promise<{ decided: number; skipped: number; missed: number }> {
    return this.deps.db.transaction(async (sql) => {
      const due = await claimDueSchedules(sql, now, DUE_BATCH);
      let skipped = 0;
      let missed = 0;
      for (const schedule of due) {
        const r = await this.decide(sql, schedule, now);
        skipped += r.skipped;
        missed += r.missed;
      }
      return { decided: due.length, skipped, missed };
    });
  }

  /** When the pass has something to do next (null: nothing known). */
  nextWorkAt(): Promise<Date | null> {
    return nextScheduleWork(this.deps.db, this.deps.clock.now());
  }

  /** One due schedule, under its row lock: promote a buffered fire, then decide every fire time due by now. */
  private async decide(sql: Sql, schedule: ScheduleRecord, now: Date): Promise<{ skipped: number; missed: number }> {
    const state = await overlapState(sql, schedule.id, now);
    if (state.buffered && state.unfinished === 0) {
      await promoteBuffered(sql, schedule.id);
      state.buffered = false;
      state.unfinished = 1;
    }
    if (!schedule.nextFireAt || schedule.nextFireAt > now) return { skipped: 0, missed: 0 };
    let plan;
    try {
      plan = planCatchUp(compileCron(schedule), schedule.nextFireAt, now, schedule.catchupWindowMs);
    } catch {
      // Validated when written; a runtime that no longer knows its time zone stops it rather than failing every pass.
      await advanceSchedule(sql, schedule.id, null, 0, 0, now);
      return { skipped: 0, missed: 0 };
    }
    const fires: NewFire[] = [];
    let skipped = 0;
    for (const fireTime of plan.fire) {
      const decision = decideOverlap(schedule.overlap, state);
      const base = { tenantId: schedule.tenantId, scheduleId: schedule.id, fireTime, source: 'CRON' as const, claimedUntil: null, createdAt: now };
      if (decision.status === 'SKIPPED') {
        skipped++;
        fires.push({ ...base, status: 'SKIPPED', cancelPrevious: false });
      } else if (decision.status === 'BUFFERED') {
        state.buffered = true;
        fires.push({ ...base, status: 'BUFFERED', cancelPrevious: false });
      } else {
        state.unfinished = decision.cancelPrevious ? 1 : state.unfinished + 1;
        fires.push({ ...base, status: 'PENDING', cancelPrevious: decision.cancelPrevious });
      }
    }
    await insertFires(sql, fires);
    await advanceSchedule(sql, schedule.id, plan.next, skipped, plan.missed, now);
    return { skipped, missed: plan.missed };
  }

  /**
   * Starts the run of a PENDING fire (claimed by this replica). A refusal (workflow gone, quota,
   * input no longer fits) fails the fire with its message; a dependency fault leaves it PENDING
   * for a later pass. `rethrow`: the refusal is also thrown (triggerSchedule answers it).
   */
  async start(fire: ScheduleFireRecord, opts: { rethrow?: boolean } = {}): Promise<RunRecord | null> {
    const { db, runs, clock, hooks } = this.deps;
    const schedule = await findScheduleById(db, fire.scheduleId);
    if (!schedule) return null;
    try {
      if (fire.cancelPrevious) {
        for (const runId of await unfinishedRunsOf(db, schedule.id)) {
          await runs.cancel(schedule.tenantId, runId).catch((e: unknown) => {
            // Finished meanwhile: nothing to cancel.
            if (!(e instanceof DomainError)) throw e;
          });
        }
      }
      const fireTime = new Date(fire.fireTime).toISOString();
      const run = await runs.start(
        schedule.tenantId,
        {
          workflow: schedule.workflow,
          version: schedule.version,
          input: schedule.input ?? {},
          idempotencyKey: fireIdempotencyKey(schedule.id, new Date(fire.fireTime)),
          metadata: { scheduleId: schedule.id, scheduleFireTime: fireTime },
        },
        { trigger: { kind: 'SCHEDULE', scheduleId: schedule.id, fireTime } },
      );
      await finishFire(db, fire.id, { status: 'STARTED', runId: run.id, error: null }, clock.now());
      if (schedule.overlap !== 'ALLOW_ALL') this.watch(run.id);
      hooks.emit('schedule:fired', { source: fire.source, lagMs: clock.now().getTime() - new Date(fire.fireTime).getTime() });
      return run;
    } catch (e: unknown) {
      if (!(e instanceof DomainError) || e.code === 'UNAVAILABLE') throw coerceError(e);
      await finishFire(db, fire.id, { status: 'FAILED', runId: null, error: e.message }, clock.now());
      hooks.emit('schedule:failed', { source: fire.source });
      if (opts.rethrow) throw e;
      return null;
    }
  }
}
