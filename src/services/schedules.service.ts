import { randomUUID } from 'node:crypto';
import type { Clock } from '../domain/clock';
import { ConflictError, LimitExceededError, NotFoundError, ValidationError } from '../domain/errors';
import type { Json } from '../domain/glossary';
import { isUuid } from '../domain/ids';
import { checkInput } from '../domain/input-schema';
import { checkJson } from '../domain/json-limits';
import type { RunRecord } from '../domain/model';
import {
  compileCron,
  DEFAULT_CATCHUP_WINDOW_MS,
  fireTimesBetween,
  firstFireAtOrAfter,
  nextFireAfter,
  nextFireTimes,
  type CronSpec,
  type OverlapPolicy,
  type ScheduleFireRecord,
  type ScheduleRecord,
} from '../domain/schedules';
import {
  countSchedules,
  lockTenantSchedules,
  deleteSchedule,
  findFire,
  findSchedule,
  insertFires,
  insertSchedule,
  listSchedules,
  recentFiresOf,
  updateSchedule,
} from '../store/schedules.store';
import type { Database } from '../store/sql';
import { findRunsByIds } from '../store/runs.store';
import { findLatestWorkflow, findWorkflowVersion } from '../store/workflows.store';
import { pageOf, pageWindow, type CursorCodec, type Page, type PageArgs } from './pagination';
import { FIRE_CLAIM_MS, type ScheduleFiring } from './schedule-firing';
import type { WorkflowsService } from './workflows.service';

/** What createSchedule takes; updateSchedule takes the same, each field optional. */
export interface ScheduleSpec {
  workflow: string;
  version?: number | null;
  cron: string;
  /** @default "UTC" */
  timezone?: string | null;
  input?: Json;
  /** @default SKIP (Temporal's default) */
  overlap?: OverlapPolicy | null;
  /** @default false */
  paused?: boolean | null;
  startAt?: Date | null;
  endAt?: Date | null;
  /** @default 60000 (Temporal's one minute) */
  catchupWindowMs?: number | null;
}

/** The most fire times `nextFireTimes(count)` answers. */
export const MAX_NEXT_FIRE_TIMES = 100;
/** The longest catch-up window: the column is a Postgres int of milliseconds (~24.8 days). */
const MAX_CATCHUP_WINDOW_MS = 2_147_483_647;

export interface ScheduleLimits {
  /** TENANT_MAX_SCHEDULES */
  maxSchedules: number;
  /** SCHEDULE_BACKFILL_MAX */
  backfillMax: number;
  maxJsonDepth: number;
  maxInputBytes: number;
}

const scheduleCursor: CursorCodec<Pick<ScheduleRecord, 'id'>, string> = {
  encode: (s) => Buffer.from(s.id).toString('base64url'),
  decode: (cursor) => {
    const id = Buffer.from(cursor, 'base64url').toString();
    return isUuid(id) ? id : null;
  },
};

/** The schedules API: create, change, pause, list, trigger and backfill; the firing itself is ScheduleFiring's pass. */
export class SchedulesService {
  constructor(
    private readonly deps: {
      db: Database;
      workflows: WorkflowsService;
      firing: ScheduleFiring;
      clock: Clock;
      limits: ScheduleLimits;
      /** Something due changed on this replica: the schedule loop looks again. */
      wake: () => void;
    },
  ) {}

  async create(tenantId: string, spec: ScheduleSpec): Promise<ScheduleRecord> {
    const { db, clock, limits } = this.deps;
    const now = clock.now();
    const row = await this.checked(tenantId, randomUUID(), spec, now, now);
    // Count and insert under a per-tenant lock: two creates racing at the cap cannot both pass it.
    const created = await db.transaction(async (sql) => {
      await lockTenantSchedules(sql, tenantId);
      const count = await countSchedules(sql, tenantId);
      if (count >= limits.maxSchedules) {
        throw new LimitExceededError(
          `The tenant has ${count} schedules, the most TENANT_MAX_SCHEDULES allows: delete one first, or raise TENANT_MAX_SCHEDULES`,
          {
            limit: 'TENANT_MAX_SCHEDULES',
            max: limits.maxSchedules,
            actual: count + 1,
          },
        );
      }
      return insertSchedule(sql, row);
    });
    this.deps.wake();
    return created;
  }

  async update(tenantId: string, id: string, changes: Partial<ScheduleSpec>): Promise<ScheduleRecord> {
    const current = await this.getOrThrow(tenantId, id);
    const merged: ScheduleSpec = {
      workflow: changes.workflow ?? current.workflow,
      version: changes.version !== undefined ? changes.version : current.version,
      cron: changes.cron ?? current.cron,
      timezone: changes.timezone ?? current.timezone,
      input: changes.input !== undefined ? changes.input : current.input,
      overlap: changes.overlap ?? current.overlap,
      paused: changes.paused ?? current.paused,
      startAt: changes.startAt !== undefined ? changes.startAt : current.startAt,
      endAt: changes.endAt !== undefined ? changes.endAt : current.endAt,
      catchupWindowMs: changes.catchupWindowMs ?? current.catchupWindowMs,
    };
    // A fire time already due but not yet taken by a pass is kept (if the new expression has it), not dropped by the edit.
    const due = !current.paused && current.nextFireAt && current.nextFireAt <= this.deps.clock.now() ? current.nextFireAt : null;
    return this.write(tenantId, id, merged, current.createdAt, due);
  }

  /** Paused: no fire time is taken; resuming starts from the next fire time after now (paused ones are not caught up). */
  async setPaused(tenantId: string, id: string, paused: boolean): Promise<ScheduleRecord> {
    const current = await this.getOrThrow(tenantId, id);
    if (current.paused === paused) return current;
    return this.write(tenantId, id, { ...current, paused }, current.createdAt);
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return deleteSchedule(this.deps.db, tenantId, id);
  }

  async get(tenantId: string, id: string): Promise<ScheduleRecord | null> {
    if (!isUuid(id)) return null;
    return findSchedule(this.deps.db, tenantId, id);
  }

  async getOrThrow(tenantId: string, id: string): Promise<ScheduleRecord> {
    const row = await this.get(tenantId, id);
    if (!row) throw new NotFoundError('Schedule', id);
    return row;
  }

  async list(tenantId: string, args: PageArgs): Promise<Page<ScheduleRecord>> {
    const window = pageWindow(args, scheduleCursor);
    return pageOf(window, await listSchedules(this.deps.db, tenantId, window), scheduleCursor);
  }

  /** The next `count` fire times after now (while paused: the ones it would take once resumed), within startAt/endAt. */
  nextFireTimes(schedule: CronSpec, count: number): Date[] {
    if (!Number.isInteger(count) || count < 1 || count > MAX_NEXT_FIRE_TIMES) {
      throw new ValidationError(`count must be 1 to ${MAX_NEXT_FIRE_TIMES}`, { field: 'count' });
    }
    return nextFireTimes(compileCron(schedule), this.deps.clock.now(), count);
  }

  /** The latest `limit` (1 to 100) fires of each schedule, newest first: one query for a page of schedules (DataLoader). */
  async recentFiresOf(tenantId: string, scheduleIds: readonly string[], limit: number): Promise<Map<string, ScheduleFireRecord[]>> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ValidationError('first must be 1 to 100', { field: 'first' });
    const out = new Map<string, ScheduleFireRecord[]>();
    for (const f of await recentFiresOf(this.deps.db, tenantId, scheduleIds.filter(isUuid), limit)) {
      out.set(f.scheduleId, [...(out.get(f.scheduleId) ?? []), f]);
    }
    return out;
  }

  /**
   * Runs the schedule now: a fire at this instant, started at once whatever the overlap policy
   * (a manual run, as Conductor's and Argo's "run now"), with the same uniqueness: a second
   * trigger in the same millisecond answers the same run.
   */
  async trigger(tenantId: string, id: string): Promise<RunRecord> {
    const { db, clock, firing } = this.deps;
    const schedule = await this.getOrThrow(tenantId, id);
    const now = clock.now();
    const [fire] = await insertFires(db, [
      {
        tenantId,
        scheduleId: schedule.id,
        fireTime: now,
        source: 'TRIGGER',
        status: 'PENDING',
        cancelPrevious: false,
        claimedUntil: new Date(now.getTime() + FIRE_CLAIM_MS),
        createdAt: now,
      },
    ]);
    // Ours: start it now, and a refusal (quota, input) is the caller's answer with its own code.
    if (fire) {
      const run = await firing.start(fire, { rethrow: true });
      if (run) return run;
    }
    // A trigger in the same millisecond took this fire time: its run is the answer.
    const taken = await findFire(db, schedule.id, now);
    const [found] = taken?.runId ? await findRunsByIds(db, tenantId, [taken.runId]) : [];
    if (found) return found;
    throw new ConflictError(`The schedule was triggered at this same instant and its run is still starting (${taken?.status ?? 'gone'}): try again`, {
      reason: 'SCHEDULE_FIRE_IN_PROGRESS',
      scheduleId: id,
    });
  }

  /**
   * Starts one run per fire time in [from, to) that has none yet (ALLOW_ALL: a backfill fills in
   * history, it does not wait on itself), at most SCHEDULE_BACKFILL_MAX fire times per call.
   * The runs start on the scheduler pass; the answer counts what was taken.
   */
  async backfill(tenantId: string, id: string, from: Date, to: Date): Promise<{ fireTimes: number; created: number; alreadyFired: number }> {
    const { db, clock, limits } = this.deps;
    if (!(from < to)) throw new ValidationError('from must be before to', { field: 'from', reason: 'INVALID_RANGE' });
    const schedule = await this.getOrThrow(tenantId, id);
    const times = fireTimesBetween(compileCron({ cron: schedule.cron, timezone: schedule.timezone }), from, to, limits.backfillMax);
    if (times.length > limits.backfillMax) {
      throw new LimitExceededError(
        `The range holds more than ${limits.backfillMax} fire times, the most SCHEDULE_BACKFILL_MAX allows in one backfill: split it into shorter ranges`,
        { limit: 'SCHEDULE_BACKFILL_MAX', max: limits.backfillMax },
      );
    }
    const now = clock.now();
    const created = await insertFires(
      db,
      times.map((fireTime) => ({
        tenantId,
        scheduleId: schedule.id,
        fireTime,
        source: 'BACKFILL' as const,
        status: 'PENDING' as const,
        cancelPrevious: false,
        claimedUntil: null,
        createdAt: now,
      })),
    );
    if (created.length) this.deps.wake();
    return { fireTimes: times.length, created: created.length, alreadyFired: times.length - created.length };
  }

  private async write(tenantId: string, id: string, spec: ScheduleSpec, createdAt: Date, dueFrom: Date | null = null): Promise<ScheduleRecord> {
    const now = this.deps.clock.now();
    const row = await this.checked(tenantId, id, spec, createdAt, now, dueFrom);
    const updated = await updateSchedule(this.deps.db, row);
    if (!updated) throw new NotFoundError('Schedule', id);
    this.deps.wake();
    return updated;
  }

  /**
   * The row a spec writes, every field checked; nextFireAt is the first fire time after now, or at
   * or after `dueFrom` (a due fire time an update keeps); null: paused, or none before endAt.
   */
  private async checked(tenantId: string, id: string, spec: ScheduleSpec, createdAt: Date, now: Date, dueFrom: Date | null = null) {
    const { db, workflows, limits } = this.deps;
    const timezone = spec.timezone ?? 'UTC';
    const catchupWindowMs = spec.catchupWindowMs ?? DEFAULT_CATCHUP_WINDOW_MS;
    if (!Number.isInteger(catchupWindowMs) || catchupWindowMs < 0 || catchupWindowMs > MAX_CATCHUP_WINDOW_MS) {
      throw new ValidationError(`catchupWindowMs must be an integer from 0 to ${MAX_CATCHUP_WINDOW_MS}`, { field: 'catchupWindowMs' });
    }
    if (spec.startAt && spec.endAt && !(spec.startAt < spec.endAt)) {
      throw new ValidationError('startAt must be before endAt', { field: 'startAt', reason: 'INVALID_RANGE' });
    }
    if (spec.version != null && (!Number.isInteger(spec.version) || spec.version < 1)) {
      throw new ValidationError('version must be a positive integer, or null for the latest at fire time', { field: 'version' });
    }
    const cron = compileCron({ cron: spec.cron, timezone, startAt: spec.startAt, endAt: spec.endAt });
    const input: Json = spec.input ?? {};
    checkJson(input, { what: 'the schedule input', maxDepth: limits.maxJsonDepth, maxBytes: limits.maxInputBytes, bytesLimit: 'MAX_INPUT_BYTES' });
    const workflow =
      spec.version == null ? await findLatestWorkflow(db, tenantId, spec.workflow) : await findWorkflowVersion(db, tenantId, spec.workflow, spec.version);
    if (!workflow) throw new NotFoundError('Workflow', spec.version == null ? spec.workflow : `${spec.workflow}@${spec.version}`);
    const validator = workflows.inputValidator(workflow);
    if (validator) checkInput(workflow.name, validator, input);
    const paused = spec.paused ?? false;
    return {
      id,
      tenantId,
      workflow: spec.workflow,
      version: spec.version ?? null,
      cron: spec.cron.trim(),
      timezone,
      input,
      overlap: spec.overlap ?? 'SKIP',
      paused,
      startAt: spec.startAt ?? null,
      endAt: spec.endAt ?? null,
      catchupWindowMs,
      nextFireAt: paused ? null : dueFrom ? firstFireAtOrAfter(cron, dueFrom) : nextFireAfter(cron, now),
      createdAt,
      updatedAt: now,
    };
  }
}
