import type { ScheduleFireRecord, ScheduleRecord } from '../domain/schedules';
import type { KeysetRead, KeysetWindow } from './keyset';
import type { Sql } from './sql';

/** Run statuses that are not final (a schedule's previous run still going). */
const UNFINISHED_RUN = `('PENDING', 'RUNNING', 'PAUSED')`;

/**
 * The fires of schedule `s` that hold it busy: unsettled, and PENDING or STARTED with a run not
 * finished. Reads only unsettled fires (a partial index), never the schedule's history.
 */
const BUSY = (s: string) => `SELECT 1 FROM schedule_fires u LEFT JOIN runs r ON r.id = u."runId"
  WHERE u."scheduleId" = ${s} AND u."settledAt" IS NULL AND (u.status = 'PENDING' OR (u.status = 'STARTED' AND r.status IN ${UNFINISHED_RUN}))`;

/** Schedules with a buffered fire that may start now (nothing holds them busy), from the open-fires index. */
const PROMOTABLE = `SELECT b."scheduleId" FROM schedule_fires b WHERE b.status = 'BUFFERED' AND NOT EXISTS (${BUSY('b."scheduleId"')})`;

/** The columns a schedule is written with (counts start at 0). */
const COLUMNS = [
  'id',
  'tenantId',
  'workflow',
  'version',
  'cron',
  'timezone',
  'input',
  'overlap',
  'paused',
  'startAt',
  'endAt',
  'catchupWindowMs',
  'nextFireAt',
  'createdAt',
  'updatedAt',
] as const;
type Columns = Pick<ScheduleRecord, (typeof COLUMNS)[number]>;

function values(s: Columns): unknown[] {
  return COLUMNS.map((c) => (c === 'input' ? JSON.stringify(s.input) : s[c]));
}

export async function insertSchedule(sql: Sql, s: Columns): Promise<ScheduleRecord> {
  const [row] = await sql.rows<ScheduleRecord>(
    `INSERT INTO schedules (${COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING *`,
    values(s),
  );
  return row!;
}

/** Writes every settable column of the schedule (not its counts); null when it is not the tenant's. */
export async function updateSchedule(sql: Sql, s: Columns): Promise<ScheduleRecord | null> {
  const settable = COLUMNS.filter((c) => c !== 'id' && c !== 'tenantId' && c !== 'createdAt');
  const [row] = await sql.rows<ScheduleRecord>(
    `UPDATE schedules SET ${settable.map((c, i) => `"${c}" = $${i + 3}`).join(', ')} WHERE id = $1 AND "tenantId" = $2 RETURNING *`,
    [s.id, s.tenantId, ...settable.map((c) => (c === 'input' ? JSON.stringify(s.input) : s[c]))],
  );
  return row ?? null;
}

/** The tenant's schedule, locked with `forUpdate` (inside a transaction). */
export async function findSchedule(sql: Sql, tenantId: string, id: string, forUpdate = false): Promise<ScheduleRecord | null> {
  const [row] = await sql.rows<ScheduleRecord>(`SELECT * FROM schedules WHERE id = $1 AND "tenantId" = $2${forUpdate ? ' FOR UPDATE' : ''}`, [id, tenantId]);
  return row ?? null;
}

export async function findScheduleById(sql: Sql, id: string): Promise<ScheduleRecord | null> {
  const [row] = await sql.rows<ScheduleRecord>(`SELECT * FROM schedules WHERE id = $1`, [id]);
  return row ?? null;
}

export async function deleteSchedule(sql: Sql, tenantId: string, id: string): Promise<boolean> {
  return (await sql.rows(`DELETE FROM schedules WHERE id = $1 AND "tenantId" = $2 RETURNING id`, [id, tenantId])).length > 0;
}

/** Serializes creates of one tenant's schedules for this transaction (the TENANT_MAX_SCHEDULES check). */
export async function lockTenantSchedules(sql: Sql, tenantId: string): Promise<void> {
  await sql.rows(`SELECT pg_advisory_xact_lock(hashtextextended('maestro:schedules:' || $1, 0))`, [tenantId]);
}

export async function countSchedules(sql: Sql, tenantId: string): Promise<number> {
  const [row] = await sql.rows<{ n: string }>(`SELECT count(*) AS n FROM schedules WHERE "tenantId" = $1`, [tenantId]);
  return Number(row?.n ?? 0);
}

/** The tenant's schedules by id (a stable order), one keyset page. */
export async function listSchedules(sql: Sql, tenantId: string, window: KeysetWindow<string>): Promise<KeysetRead<ScheduleRecord>> {
  const order = window.direction === 'forward' ? 'ASC' : 'DESC';
  const params = [tenantId, window.after, window.before];
  const [rows, [count]] = await Promise.all([
    sql.rows<ScheduleRecord>(
      `SELECT * FROM schedules WHERE "tenantId" = $1 AND ($2::uuid IS NULL OR id > $2) AND ($3::uuid IS NULL OR id < $3)
       ORDER BY id ${order} LIMIT $4`,
      [...params, window.limit],
    ),
    sql.rows<{ total: string; throughAfter: string; fromBefore: string }>(
      `SELECT count(*) AS total, count(*) FILTER (WHERE id <= $2::uuid) AS "throughAfter", count(*) FILTER (WHERE id >= $3::uuid) AS "fromBefore"
       FROM schedules WHERE "tenantId" = $1`,
      params,
    ),
  ]);
  return { rows, total: Number(count?.total ?? 0), throughAfter: Number(count?.throughAfter ?? 0), fromBefore: Number(count?.fromBefore ?? 0) };
}

/**
 * The scheduler pass's claim: schedules due by `now`, or with a buffered fire that may now start,
 * locked for this transaction; a replica racing on the same rows skips them (SKIP LOCKED), so
 * each fire time is decided by one transaction.
 */
export async function claimDueSchedules(sql: Sql, now: Date, limit: number): Promise<ScheduleRecord[]> {
  return sql.rows<ScheduleRecord>(
    `SELECT * FROM schedules s
     WHERE NOT s.paused AND s.id IN (SELECT id FROM schedules WHERE "nextFireAt" <= $1 UNION ${PROMOTABLE})
     ORDER BY s."nextFireAt" NULLS LAST LIMIT $2
     FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
}

/**
 * What the overlap policy looks at: fires not yet started or with an unfinished run, and whether
 * one is buffered. STARTED fires whose run finished (or is gone) are settled first, so the next
 * look reads fewer rows: the unsettled fires of a schedule stay few whatever its history.
 */
export async function overlapState(sql: Sql, scheduleId: string, now: Date): Promise<{ unfinished: number; buffered: boolean }> {
  await sql.rows(
    `UPDATE schedule_fires f SET "settledAt" = $2
     WHERE f."scheduleId" = $1 AND f."settledAt" IS NULL AND f.status = 'STARTED'
       AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = f."runId" AND r.status IN ${UNFINISHED_RUN})`,
    [scheduleId, now],
  );
  const [row] = await sql.rows<{ unfinished: string; buffered: boolean }>(
    `SELECT count(*) FILTER (WHERE status IN ('PENDING', 'STARTED')) AS unfinished, bool_or(status = 'BUFFERED') AS buffered
     FROM schedule_fires WHERE "scheduleId" = $1 AND "settledAt" IS NULL`,
    [scheduleId],
  );
  return { unfinished: Number(row?.unfinished ?? 0), buffered: row?.buffered ?? false };
}

/** The unfinished runs a schedule's fires started (CANCEL_PREVIOUS cancels them). */
export async function unfinishedRunsOf(sql: Sql, scheduleId: string): Promise<string[]> {
  const rows = await sql.rows<{ runId: string }>(
    `SELECT f."runId" FROM schedule_fires f JOIN runs r ON r.id = f."runId"
     WHERE f."scheduleId" = $1 AND f."settledAt" IS NULL AND f.status = 'STARTED' AND r.status IN ${UNFINISHED_RUN}`,
    [scheduleId],
  );
  return rows.map((r) => r.runId);
}

/** The buffered fire becomes PENDING (the run it waited for finished). */
export async function promoteBuffered(sql: Sql, scheduleId: string): Promise<void> {
  await sql.rows(`UPDATE schedule_fires SET status = 'PENDING' WHERE "scheduleId" = $1 AND status = 'BUFFERED'`, [scheduleId]);
}

export type NewFire = Pick<ScheduleFireRecord, 'tenantId' | 'scheduleId' | 'fireTime' | 'source' | 'status' | 'cancelPrevious' | 'claimedUntil' | 'createdAt'>;

/** Inserts fires; a (schedule, fire time) that has one already keeps it. Returns the ones inserted. */
export async function insertFires(sql: Sql, fires: readonly NewFire[]): Promise<ScheduleFireRecord[]> {
  if (fires.length === 0) return [];
  return sql.rows<ScheduleFireRecord>(
    `INSERT INTO schedule_fires ("tenantId", "scheduleId", "fireTime", source, status, "cancelPrevious", "claimedUntil", "createdAt", "settledAt")
     SELECT f."tenantId", f."scheduleId", f."fireTime", f.source, f.status, f."cancelPrevious", f."claimedUntil", f."createdAt",
       CASE WHEN f.status = 'SKIPPED' THEN f."createdAt" END
     FROM jsonb_to_recordset($1::jsonb) AS f("tenantId" varchar, "scheduleId" uuid, "fireTime" timestamptz, source varchar, status varchar,
       "cancelPrevious" boolean, "claimedUntil" timestamptz, "createdAt" timestamptz)
     ON CONFLICT ("scheduleId", "fireTime") DO NOTHING
     RETURNING *`,
    [JSON.stringify(fires)],
  );
}

export async function findFire(sql: Sql, scheduleId: string, fireTime: Date): Promise<ScheduleFireRecord | null> {
  const [row] = await sql.rows<ScheduleFireRecord>(`SELECT * FROM schedule_fires WHERE "scheduleId" = $1 AND "fireTime" = $2`, [scheduleId, fireTime]);
  return row ?? null;
}

/** Moves the schedule on after a pass decided its due fire times. */
export async function advanceSchedule(sql: Sql, id: string, next: Date | null, skipped: number, missed: number, now: Date): Promise<void> {
  await sql.rows(
    `UPDATE schedules SET "nextFireAt" = $2, "skippedCount" = "skippedCount" + $3, "missedCount" = "missedCount" + $4, "updatedAt" = $5 WHERE id = $1`,
    [id, next, skipped, missed, now],
  );
}

/**
 * Takes PENDING fires to start, oldest first, each held until `until`: a replica that dies
 * mid-start leaves it to another after that (the run's idempotency key keeps it one run).
 */
export async function claimPendingFires(sql: Sql, now: Date, until: Date, limit: number): Promise<ScheduleFireRecord[]> {
  return sql.rows<ScheduleFireRecord>(
    `UPDATE schedule_fires SET "claimedUntil" = $2
     WHERE id IN (SELECT id FROM schedule_fires WHERE status = 'PENDING' AND ("claimedUntil" IS NULL OR "claimedUntil" <= $1)
                  ORDER BY "fireTime" LIMIT $3 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [now, until, limit],
  );
}

/** A FAILED fire settles at once (`now`); a STARTED one when the pass sees its run finished. */
export async function finishFire(
  sql: Sql,
  id: string,
  outcome: { status: 'STARTED' | 'FAILED'; runId: string | null; error: string | null },
  now: Date,
): Promise<void> {
  await sql.rows(
    `UPDATE schedule_fires SET status = $2::varchar, "runId" = $3, error = $4, "claimedUntil" = NULL, "settledAt" = CASE WHEN $2::varchar = 'FAILED' THEN $5::timestamptz END
     WHERE id = $1 AND status = 'PENDING'`,
    [id, outcome.status, outcome.runId, outcome.error, now],
  );
}

/** The latest `limit` fires of each schedule, newest fire time first: one statement for a page of schedules. */
export async function recentFiresOf(sql: Sql, tenantId: string, scheduleIds: readonly string[], limit: number): Promise<ScheduleFireRecord[]> {
  return sql.rows<ScheduleFireRecord>(
    `SELECT * FROM (
       SELECT f.*, row_number() OVER (PARTITION BY f."scheduleId" ORDER BY f."fireTime" DESC) AS rank
       FROM schedule_fires f WHERE f."scheduleId" = ANY($1::uuid[]) AND f."tenantId" = $2
     ) ranked WHERE rank <= $3 ORDER BY "scheduleId", "fireTime" DESC`,
    [scheduleIds, tenantId, limit],
  );
}

/** Whether a pass has anything to decide (a due schedule, a buffered fire) or to start (a PENDING fire free to take): one cheap look before a transaction. */
export async function scheduleWorkNow(sql: Sql, now: Date): Promise<{ decide: boolean; start: boolean }> {
  const [row] = await sql.rows<{ decide: boolean; start: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM schedules WHERE NOT paused AND "nextFireAt" <= $1)
              OR EXISTS (SELECT 1 FROM schedules s WHERE NOT s.paused AND s.id IN (${PROMOTABLE})) AS decide,
            EXISTS (SELECT 1 FROM schedule_fires WHERE status = 'PENDING' AND ("claimedUntil" IS NULL OR "claimedUntil" <= $1)) AS start`,
    [now],
  );
  return { decide: row?.decide ?? false, start: row?.start ?? false };
}

/** When the pass has something to do next: the soonest fire time, or a PENDING fire (now, or when its claim lapses). */
export async function nextScheduleWork(sql: Sql, now: Date): Promise<Date | null> {
  const [row] = await sql.rows<{ at: Date | null }>(
    `SELECT LEAST(
       (SELECT min("nextFireAt") FROM schedules WHERE NOT paused AND "nextFireAt" IS NOT NULL),
       (SELECT min(COALESCE("claimedUntil", $1)) FROM schedule_fires WHERE status = 'PENDING')) AS at`,
    [now],
  );
  return row?.at ?? null;
}

/** The soonest fire time of any schedule (the next-fire gauge). */
export async function soonestFire(sql: Sql): Promise<Date | null> {
  const [row] = await sql.rows<{ at: Date | null }>(`SELECT min("nextFireAt") AS at FROM schedules WHERE NOT paused AND "nextFireAt" IS NOT NULL`);
  return row?.at ?? null;
}
