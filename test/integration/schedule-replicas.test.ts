import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { REAL_POSTGRES, REAL_REDIS } from '../helpers/db';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Three replicas on one Postgres race every fire time of an every-second schedule, each on its
 * own manual clock set slightly apart (0, +150 and +400 ms past the fire time): each fire time
 * must start exactly one run. Real Postgres only: embedded PGlite is one process's database, so
 * several replicas cannot share it.
 */
const FIRES = 20;
const START = Date.UTC(2030, 5, 1, 12, 0, 0, 500);

describe.runIf(REAL_POSTGRES && REAL_REDIS)('schedules on three replicas', () => {
  const clocks = [new ManualClock(START), new ManualClock(START), new ManualClock(START)];
  const apps: TestApp[] = [];
  const firedBy = new Map<string, number>();

  beforeAll(async () => {
    apps.push(await startTestApp({ clock: clocks[0] }));
    apps.push(await startTestApp({ clock: clocks[1], replicaOf: apps[0] }));
    apps.push(await startTestApp({ clock: clocks[2], replicaOf: apps[0] }));
    apps.forEach((t, i) => t.app.hooks.on('schedule:fired', () => firedBy.set(`r${i}`, (firedBy.get(`r${i}`) ?? 0) + 1)));
    await apps[0]!.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`, {
      input: { name: 'race', steps: [{ key: 'a', type: 'noop' }] },
    });
  });
  afterAll(async () => {
    for (const t of apps.reverse()) await t.close();
  });

  it('starts exactly one run per fire time, whoever sees it first', async () => {
    const { createSchedule } = await apps[0]!.ok(`mutation { createSchedule(input: { workflow: "race", cron: "* * * * * *", overlap: ALLOW_ALL }) { id } }`);
    const offsets = [0, 150, 400];
    for (let i = 1; i <= FIRES; i++) {
      const fireTime = START - 500 + i * 1_000;
      // Each replica's clock reaches the fire time (a little apart), then all three passes run at once.
      await Promise.all(clocks.map((c, r) => c.set(new Date(fireTime + offsets[r]!))));
      apps.forEach((t) => t.app.scheduleLoop.wake());
      await Promise.all(apps.map((t) => t.app.scheduleLoop.idle()));
    }
    const { schedule } = await apps[1]!.ok(
      `query($id: ID!) { schedule(id: $id) { recentFires(first: 100) { fireTime status runId } recentRuns(first: 100) { id trigger { fireTime } } } }`,
      { id: createSchedule.id },
    );
    const fireTimes = schedule.recentFires.map((f: { fireTime: string }) => f.fireTime).sort();
    expect(fireTimes).toEqual(Array.from({ length: FIRES }, (_, i) => new Date(START - 500 + (i + 1) * 1_000).toISOString()));
    expect(schedule.recentFires.every((f: { status: string }) => f.status === 'STARTED')).toBe(true);
    const runs = schedule.recentRuns as { id: string; trigger: { fireTime: string } }[];
    expect(new Set(runs.map((r) => r.id)).size).toBe(FIRES);
    expect(new Set(runs.map((r) => r.trigger.fireTime)).size).toBe(FIRES);
    // Every run of the workflow came from a fire: no duplicate runs outside the fire rows either.
    const all = await apps[2]!.ok(`{ runs(filter: { workflow: "race" }, first: 100) { totalCount } }`);
    expect(all.runs.totalCount).toBe(FIRES);
    const starts = [...firedBy.values()].reduce((a, b) => a + b, 0);
    console.log(`[schedule-replicas] fires started per replica: ${JSON.stringify(Object.fromEntries(firedBy))}`);
    expect(starts).toBe(FIRES);
  });
});
