import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * Schedules end to end, on a manual clock (real Postgres and Redis, and the embedded default):
 * fire times come due when the test moves the clock, each starts one run with its trigger and
 * metadata, the four overlap policies, catch-up after the conductor was down, backfill bounds,
 * DST, and the typed refusals. Runs that must stay unfinished wait on a queue no worker polls;
 * cancelRun ends them.
 */
const T0 = new Date('2030-01-07T00:00:30.000Z');
const minute = (n: number) => new Date(Date.UTC(2030, 0, 7, 0, n, 0));

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const CREATE = `mutation($input: ScheduleInput!) { createSchedule(input: $input) { id nextFireAt overlap timezone catchupWindowMs } }`;
const SCHEDULE = `query($id: ID!) { schedule(id: $id) {
  id paused nextFireAt skippedCount missedCount
  recentFires(first: 100) { fireTime source status runId error }
  recentRuns(first: 100) { id status trigger { kind scheduleId fireTime } metadata }
} }`;

interface Fire {
  fireTime: string;
  source: string;
  status: string;
  runId: string | null;
  error: string | null;
}
interface ScheduleView {
  id: string;
  paused: boolean;
  nextFireAt: string | null;
  skippedCount: number;
  missedCount: number;
  recentFires: Fire[];
  recentRuns: { id: string; status: string; trigger: { kind: string; scheduleId: string; fireTime: string }; metadata: Record<string, unknown> }[];
}

describe('schedules', () => {
  const clock = new ManualClock(T0);
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ clock, persistent: true, env: { SCHEDULE_BACKFILL_MAX: '50', TENANT_MAX_SCHEDULES: '20' } });
    await t.ok(REGISTER, { input: { name: 'tick', steps: [{ key: 'a', type: 'noop' }] } });
    // Unfinished until cancelled: its one step waits on a queue nobody polls.
    await t.ok(REGISTER, { input: { name: 'hold', steps: [{ key: 'w', type: 'work', queue: 'nobody' }] } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const create = async (input: Record<string, unknown>) =>
    (await t.ok<{ createSchedule: { id: string; nextFireAt: string } }>(CREATE, { input })).createSchedule;
  const read = async (id: string) => (await t.ok<{ schedule: ScheduleView }>(SCHEDULE, { id })).schedule;
  /** Moves the clock to `at` (timers due by then fire once), and lets the schedule pass finish. */
  const at = async (when: Date) => {
    await clock.set(when);
    await t.app.scheduleLoop.idle();
  };
  const fireOf = (s: ScheduleView, when: Date) => s.recentFires.find((f) => f.fireTime === when.toISOString());
  const cancel = (id: string) => t.ok(`mutation($id: ID!) { cancelRun(id: $id) { status } }`, { id });
  const cleanup = (id: string) => t.ok(`mutation($id: ID!) { deleteSchedule(id: $id) }`, { id });

  it('fires each fire time once, with the trigger and the fire time in the metadata', async () => {
    await at(T0);
    const s = await create({ workflow: 'tick', cron: '*/5 * * * *', input: { hello: 'world' } });
    expect(s.nextFireAt).toBe(minute(5).toISOString());
    await at(minute(4));
    expect((await read(s.id)).recentFires).toHaveLength(0);
    await at(minute(5));
    await at(new Date(minute(5).getTime() + 400));
    const view = await read(s.id);
    expect(view.recentFires.map((f) => [f.fireTime, f.source, f.status])).toEqual([[minute(5).toISOString(), 'CRON', 'STARTED']]);
    const [run] = view.recentRuns;
    expect(run!.trigger).toEqual({ kind: 'SCHEDULE', scheduleId: s.id, fireTime: minute(5).toISOString() });
    expect(run!.metadata).toEqual({ scheduleId: s.id, scheduleFireTime: minute(5).toISOString() });
    expect((await waitForRun(t, run!.id)).status).toBe('SUCCEEDED');
    expect(view.nextFireAt).toBe(minute(10).toISOString());
    await cleanup(s.id);
  });

  it('SKIP: a fire time while the previous run is unfinished is skipped and counted', async () => {
    await at(new Date(minute(20).getTime() + 30_000));
    const s = await create({ workflow: 'hold', cron: '* * * * *', overlap: 'SKIP' });
    await at(minute(21));
    await at(minute(22));
    let view = await read(s.id);
    expect(fireOf(view, minute(21))?.status).toBe('STARTED');
    expect(fireOf(view, minute(22))?.status).toBe('SKIPPED');
    expect(view.skippedCount).toBe(1);
    await cancel(fireOf(view, minute(21))!.runId!);
    await at(minute(23));
    view = await read(s.id);
    expect(fireOf(view, minute(23))?.status).toBe('STARTED');
    // Only the fire whose run still goes counts for overlap: the cancelled run's fire and the skipped one are settled.
    const unsettled = await t.app.db.rows<{ fireTime: Date }>(`SELECT "fireTime" FROM schedule_fires WHERE "scheduleId" = $1 AND "settledAt" IS NULL`, [s.id]);
    expect(unsettled.map((f) => new Date(f.fireTime).toISOString())).toEqual([minute(23).toISOString()]);
    await cancel(fireOf(view, minute(23))!.runId!);
    const scrape = await t.scrape();
    expect(scrape).toMatch(/^maestro_schedule_overlap_skipped_total 1$/m);
    expect(scrape).toMatch(/^maestro_schedule_fires_total\{source="CRON"\} [1-9]/m);
    // Fired on the pass the clock reached the fire time with: a lag of 0 on this clock.
    expect(scrape).toMatch(/^maestro_schedule_fire_lag_seconds_bucket\{le="0.005"\} [1-9]/m);
    await cleanup(s.id);
  });

  it('BUFFER_ONE: keeps one fire until the previous run ends, skips a second', async () => {
    await at(new Date(minute(30).getTime() + 30_000));
    const s = await create({ workflow: 'hold', cron: '* * * * *', overlap: 'BUFFER_ONE' });
    await at(minute(31));
    await at(minute(32));
    await at(minute(33));
    let view = await read(s.id);
    expect([31, 32, 33].map((m) => fireOf(view, minute(m))?.status)).toEqual(['STARTED', 'BUFFERED', 'SKIPPED']);
    expect(view.skippedCount).toBe(1);
    // The end of the run it waits for starts the buffered fire (this replica watches it; others poll).
    await cancel(fireOf(view, minute(31))!.runId!);
    await t.app.scheduleLoop.idle();
    view = await read(s.id);
    const buffered = fireOf(view, minute(32))!;
    expect(buffered.status).toBe('STARTED');
    const run = view.recentRuns.find((r) => r.id === buffered.runId)!;
    expect(run.trigger.fireTime).toBe(minute(32).toISOString());
    await cancel(buffered.runId!);
    await cleanup(s.id);
  });

  it('ALLOW_ALL: every fire time starts a run whatever is running', async () => {
    await at(new Date(minute(40).getTime() + 30_000));
    const s = await create({ workflow: 'hold', cron: '* * * * *', overlap: 'ALLOW_ALL' });
    await at(minute(41));
    await at(minute(42));
    const view = await read(s.id);
    expect([41, 42].map((m) => fireOf(view, minute(m))?.status)).toEqual(['STARTED', 'STARTED']);
    expect(view.recentRuns.map((r) => r.status).every((st) => st !== 'CANCELLED')).toBe(true);
    for (const r of view.recentRuns) await cancel(r.id);
    await cleanup(s.id);
  });

  it('CANCEL_PREVIOUS: cancels the unfinished run, then starts', async () => {
    await at(new Date(minute(50).getTime() + 30_000));
    const s = await create({ workflow: 'hold', cron: '* * * * *', overlap: 'CANCEL_PREVIOUS' });
    await at(minute(51));
    await at(minute(52));
    const view = await read(s.id);
    const first = view.recentRuns.find((r) => r.id === fireOf(view, minute(51))!.runId)!;
    const second = view.recentRuns.find((r) => r.id === fireOf(view, minute(52))!.runId)!;
    expect(first.status).toBe('CANCELLED');
    expect(second.status).not.toBe('CANCELLED');
    await cancel(second.id);
    await cleanup(s.id);
  });

  it('catch-up after the conductor was down: fires within the window, counts older ones as missed', async () => {
    const base = Date.UTC(2030, 0, 7, 1, 0, 30);
    await at(new Date(base));
    const s = await create({ workflow: 'tick', cron: '* * * * *', overlap: 'ALLOW_ALL', catchupWindowMs: 150_000 });
    // Down from 01:00:30 to 01:10:30: fire times 01:01 … 01:10 passed with no replica running.
    await t.restart(async () => {
      await clock.set(new Date(base + 10 * 60_000));
    });
    await t.app.scheduleLoop.idle();
    await at(new Date(base + 10 * 60_000 + 100));
    const view = await read(s.id);
    const fired = view.recentFires.map((f) => f.fireTime).sort();
    // The window reaches back to 01:08:00: 01:08, 01:09, 01:10 fire; 01:01 … 01:07 are missed.
    expect(fired).toEqual([8, 9, 10].map((m) => new Date(Date.UTC(2030, 0, 7, 1, m)).toISOString()));
    expect(view.missedCount).toBe(7);
    expect(view.nextFireAt).toBe(new Date(Date.UTC(2030, 0, 7, 1, 11)).toISOString());
    const scrape = await t.scrape();
    expect(scrape).toMatch(/maestro_schedule_missed_total 7/);
    await cleanup(s.id);
  });

  it('backfills each fire time of a range once, and refuses a range over SCHEDULE_BACKFILL_MAX', async () => {
    const s = await create({ workflow: 'tick', cron: '0 * * * *', paused: true });
    const backfill = `mutation($id: ID!, $from: DateTimeISO!, $to: DateTimeISO!) { backfillSchedule(id: $id, from: $from, to: $to) { fireTimes created alreadyFired } }`;
    const from = '2029-12-01T00:00:00.000Z';
    const first = await t.ok(backfill, { id: s.id, from, to: '2029-12-03T00:00:00.000Z' });
    expect(first.backfillSchedule).toEqual({ fireTimes: 48, created: 48, alreadyFired: 0 });
    await t.app.scheduleLoop.idle();
    const again = await t.ok(backfill, { id: s.id, from, to: '2029-12-03T00:00:00.000Z' });
    expect(again.backfillSchedule).toEqual({ fireTimes: 48, created: 0, alreadyFired: 48 });
    const view = await read(s.id);
    expect(view.recentFires.filter((f) => f.source === 'BACKFILL' && f.status === 'STARTED')).toHaveLength(48);
    expect(new Set(view.recentRuns.map((r) => r.trigger.fireTime)).size).toBe(48);
    const over = await t.gql(backfill, { id: s.id, from, to: '2029-12-04T00:00:00.000Z' });
    expect(over.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'SCHEDULE_BACKFILL_MAX', max: 50 });
    const backwards = await t.gql(backfill, { id: s.id, from, to: from });
    expect(backwards.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_RANGE' });
    await cleanup(s.id);
  });

  it('triggerSchedule runs now; pause stops fire times, resume continues after now', async () => {
    const base = Date.UTC(2030, 0, 7, 2, 0, 30);
    await at(new Date(base));
    const s = await create({ workflow: 'tick', cron: '* * * * *' });
    const trig = await t.ok(`mutation($id: ID!) { triggerSchedule(id: $id) { id trigger { kind scheduleId fireTime } } }`, { id: s.id });
    expect(trig.triggerSchedule.trigger).toEqual({ kind: 'SCHEDULE', scheduleId: s.id, fireTime: new Date(base).toISOString() });
    const paused = await t.ok(`mutation($id: ID!) { pauseSchedule(id: $id) { paused nextFireAt } }`, { id: s.id });
    expect(paused.pauseSchedule).toEqual({ paused: true, nextFireAt: null });
    await at(new Date(base + 5 * 60_000));
    expect((await read(s.id)).recentFires.map((f) => f.source)).toEqual(['TRIGGER']);
    const resumed = await t.ok(`mutation($id: ID!) { resumeSchedule(id: $id) { paused nextFireAt } }`, { id: s.id });
    expect(resumed.resumeSchedule).toEqual({ paused: false, nextFireAt: new Date(Date.UTC(2030, 0, 7, 2, 6)).toISOString() });
    const updated = await t.ok(
      `mutation($id: ID!) { updateSchedule(id: $id, input: { cron: "*/10 * * * *", overlap: ALLOW_ALL }) { cron overlap nextFireAt } }`,
      {
        id: s.id,
      },
    );
    expect(updated.updateSchedule).toEqual({ cron: '*/10 * * * *', overlap: 'ALLOW_ALL', nextFireAt: new Date(Date.UTC(2030, 0, 7, 2, 10)).toISOString() });
    await cleanup(s.id);
  });

  it('a start retried after a crash between the run and its fire row is still one run', async () => {
    const base = Date.UTC(2030, 0, 7, 3, 0, 30);
    await at(new Date(base));
    const s = await create({ workflow: 'tick', cron: '0 0 1 1 *' });
    const trig = await t.ok(`mutation($id: ID!) { triggerSchedule(id: $id) { id } }`, { id: s.id });
    // As if the replica died after starting the run but before recording it: the fire is PENDING again, its claim lapsed.
    await t.app.db.rows(`UPDATE schedule_fires SET status = 'PENDING', "runId" = NULL, "claimedUntil" = NULL WHERE "scheduleId" = $1`, [s.id]);
    t.app.scheduleLoop.wake();
    await t.app.scheduleLoop.idle();
    const view = await read(s.id);
    expect(view.recentFires.map((f) => [f.status, f.runId])).toEqual([['STARTED', trig.triggerSchedule.id]]);
    const runs = await t.ok(`query($id: JSON!) { runs(filter: { metadata: { scheduleId: $id } }) { totalCount } }`, { id: s.id });
    expect(runs.runs.totalCount).toBe(1);
    await cleanup(s.id);
  });

  it('a start the workflow refuses fails its fire with the reason; triggerSchedule answers the refusal', async () => {
    const base = Date.UTC(2030, 0, 7, 4, 0, 30);
    await at(new Date(base));
    const schema = (required: string) => ({ type: 'object', required: [required], properties: { [required]: { type: 'integer' } } });
    await t.ok(REGISTER, { input: { name: 'strict', inputSchema: schema('n'), steps: [{ key: 'a', type: 'noop' }] } });
    const s = await create({ workflow: 'strict', cron: '* * * * *', input: { n: 1 } });
    // The latest version now wants another input: the schedule (version: latest) no longer fits.
    await t.ok(REGISTER, { input: { name: 'strict', inputSchema: schema('m'), steps: [{ key: 'a', type: 'noop' }] } });
    const refused = await t.gql(`mutation($id: ID!) { triggerSchedule(id: $id) { id } }`, { id: s.id });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INPUT_SCHEMA_VIOLATION' });
    await at(new Date(Date.UTC(2030, 0, 7, 4, 1)));
    const view = await read(s.id);
    expect(view.recentFires.map((f) => [f.source, f.status])).toEqual([
      ['CRON', 'FAILED'],
      ['TRIGGER', 'FAILED'],
    ]);
    expect(view.recentFires[0]!.error).toMatch(/input/i);
    expect(await t.scrape()).toMatch(/^maestro_schedule_fires_failed_total\{source="CRON"\} 1$/m);
    await cleanup(s.id);
  });

  it('lists schedules with their recent fires and runs, each schedule its own latest', async () => {
    const base = Date.UTC(2030, 0, 7, 5, 0, 30);
    await at(new Date(base));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create({ workflow: 'tick', cron: '0 0 1 1 *' })).id);
    const triggered = new Map<string, string[]>();
    for (let round = 0; round < 2; round++) {
      await at(new Date(base + 1 + round));
      for (const id of ids) {
        const run = await t.ok(`mutation($id: ID!) { triggerSchedule(id: $id) { id } }`, { id });
        triggered.set(id, [...(triggered.get(id) ?? []), run.triggerSchedule.id]);
      }
    }
    const page = await t.ok(`{ schedules(first: 100) { nodes { id recentFires(first: 1) { fireTime runId } recentRuns(first: 2) { id } } } }`);
    for (const id of ids) {
      const node = page.schedules.nodes.find((n: { id: string }) => n.id === id);
      expect(node.recentFires).toEqual([{ fireTime: new Date(base + 2).toISOString(), runId: triggered.get(id)![1] }]);
      expect(node.recentRuns.map((r: { id: string }) => r.id)).toEqual([...triggered.get(id)!].reverse());
    }
    for (const id of ids) await cleanup(id);
  });

  it('an update keeps a fire time that came due before a pass took it', async () => {
    const base = Date.UTC(2030, 0, 7, 6, 0, 30);
    await at(new Date(base));
    const s = await create({ workflow: 'tick', cron: '* * * * *', input: { v: 1 } });
    // No pass between 06:01 coming due and the edit (every replica busy, or the edit just first).
    await t.app.scheduleLoop.stop();
    await clock.set(new Date(base + 50_000));
    const updated = await t.ok(`mutation($id: ID!) { updateSchedule(id: $id, input: { input: { v: 2 } }) { nextFireAt } }`, { id: s.id });
    expect(updated.updateSchedule.nextFireAt).toBe(new Date(Date.UTC(2030, 0, 7, 6, 1)).toISOString());
    t.app.scheduleLoop.start();
    await t.app.scheduleLoop.idle();
    const runs = await t.ok(`query($id: JSON!) { runs(filter: { metadata: { scheduleId: $id } }) { nodes { input trigger { fireTime } } } }`, { id: s.id });
    expect(runs.runs.nodes).toEqual([{ input: { v: 2 }, trigger: { fireTime: new Date(Date.UTC(2030, 0, 7, 6, 1)).toISOString() } }]);
    await cleanup(s.id);
  });

  it('keeps schedules to their tenant', async () => {
    const other = (await t.app.services.auth.createKey('tenant-other')).key;
    const s = await create({ workflow: 'tick', cron: '0 0 1 1 *' });
    expect((await t.ok(`query($id: ID!) { schedule(id: $id) { id } }`, { id: s.id }, other)).schedule).toBeNull();
    expect((await t.ok(`{ schedules { totalCount } }`, {}, other)).schedules.totalCount).toBe(0);
    const refused = await t.gql(`mutation($id: ID!) { triggerSchedule(id: $id) { id } }`, { id: s.id }, other);
    expect(refused.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await t.ok(`mutation($id: ID!) { deleteSchedule(id: $id) }`, { id: s.id }, other)).deleteSchedule).toBe(false);
    await cleanup(s.id);
  });

  it('fires across a DST change at the first valid time (America/New_York spring-forward)', async () => {
    // 2030-03-10: 02:00 EST jumps to 03:00 EDT; "30 2 * * *" has no 02:30 that day.
    await at(new Date('2030-03-09T12:00:00Z'));
    const s = await create({ workflow: 'tick', cron: '30 2 * * *', timezone: 'America/New_York' });
    const times = await t.ok(`query($id: ID!) { schedule(id: $id) { nextFireTimes(count: 3) } }`, { id: s.id });
    expect(times.schedule.nextFireTimes).toEqual(['2030-03-10T07:00:00.000Z', '2030-03-11T06:30:00.000Z', '2030-03-12T06:30:00.000Z']);
    await at(new Date('2030-03-10T07:00:00Z'));
    const view = await read(s.id);
    expect(view.recentFires.map((f) => [f.fireTime, f.status])).toEqual([['2030-03-10T07:00:00.000Z', 'STARTED']]);
    await cleanup(s.id);
  });

  it('fires once across a DST fall-back (Europe/Berlin: 02:30 occurs twice on 2030-10-27)', async () => {
    await at(new Date('2030-10-26T12:00:00Z'));
    const s = await create({ workflow: 'tick', cron: '30 2 * * *', timezone: 'Europe/Berlin' });
    expect(s.nextFireAt).toBe('2030-10-27T00:30:00.000Z');
    await at(new Date('2030-10-27T00:30:00Z'));
    // 02:30 again, now CET: no second fire.
    await at(new Date('2030-10-27T01:30:00Z'));
    const view = await read(s.id);
    expect(view.recentFires.map((f) => f.fireTime)).toEqual(['2030-10-27T00:30:00.000Z']);
    expect(view.nextFireAt).toBe('2030-10-28T01:30:00.000Z');
    await cleanup(s.id);
  });

  it('refuses a bad cron, a bad time zone, an unknown workflow and more than TENANT_MAX_SCHEDULES, with typed errors', async () => {
    const refuse = async (input: Record<string, unknown>) => (await t.gql(CREATE, { input })).errors?.[0]?.extensions;
    expect(await refuse({ workflow: 'tick', cron: '61 * * * *' })).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CRON' });
    expect(await refuse({ workflow: 'tick', cron: '* * * * * * *' })).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CRON' });
    expect(await refuse({ workflow: 'tick', cron: 'every day' })).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CRON' });
    expect(await refuse({ workflow: 'tick', cron: '* * * * *', timezone: 'Mars/Olympus' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      reason: 'INVALID_TIMEZONE',
    });
    expect(await refuse({ workflow: 'nope', cron: '* * * * *' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await refuse({ workflow: 'tick', version: 9, cron: '* * * * *' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await refuse({ workflow: 'tick', cron: '* * * * *', startAt: '2031-01-01T00:00:00Z', endAt: '2030-01-01T00:00:00Z' })).toMatchObject({
      code: 'BAD_USER_INPUT',
      reason: 'INVALID_RANGE',
    });
    expect(await refuse({ workflow: 'tick', cron: '* * * * *', catchupWindowMs: -1 })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'catchupWindowMs' });
    // 25 creates at once against a cap of 20: exactly 20 land, whatever the interleaving.
    const results = await Promise.all(Array.from({ length: 25 }, () => t.gql(CREATE, { input: { workflow: 'tick', cron: '0 0 1 1 *', paused: true } })));
    const ids = results.flatMap((r) => (r.data?.createSchedule ? [r.data.createSchedule.id as string] : []));
    expect(ids).toHaveLength(20);
    for (const r of results.filter((x) => x.errors)) {
      expect(r.errors![0]!.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'TENANT_MAX_SCHEDULES', max: 20 });
    }
    const list = await t.ok(`{ schedules(first: 100) { totalCount } }`);
    expect(list.schedules.totalCount).toBe(20);
    const badCount = await t.gql(`query($id: ID!) { schedule(id: $id) { nextFireTimes(count: 1000) } }`, { id: ids[0] });
    expect(badCount.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'count' });
    const badUpdate = await t.gql(`mutation($id: ID!) { updateSchedule(id: $id, input: { cron: "* * *" }) { id } }`, { id: ids[0] });
    expect(badUpdate.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CRON' });
    for (const id of ids) await cleanup(id);
    expect((await t.gql(`mutation { triggerSchedule(id: "00000000-0000-4000-8000-000000000000") { id } }`)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
