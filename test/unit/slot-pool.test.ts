import { describe, expect, it } from 'vitest';
import { SlotPool } from '../../src/primitives/slot-pool';
import { gate, settledWithin, ticks, type Gate } from '../helpers/gates';

/** Gate-and-tick tests: every wait is on a gate the test opens or on event-loop turns, never on time. */
describe('SlotPool', () => {
  it('grants reservations up to the free slots, and take/release/free move them', () => {
    const pool = new SlotPool(4);
    expect(pool.reserve(3)).toBe(3);
    expect(pool.available).toBe(1);
    expect(pool.reserve(5)).toBe(1);
    expect(pool.reserve(1)).toBe(0);
    pool.take(2);
    expect({ occupied: pool.occupied, reserved: pool.reserved, available: pool.available }).toEqual({ occupied: 2, reserved: 2, available: 0 });
    pool.release(2);
    expect({ occupied: pool.occupied, reserved: pool.reserved, available: pool.available }).toEqual({ occupied: 2, reserved: 0, available: 2 });
    pool.free();
    expect(pool.available).toBe(3);
    // Giving back or freeing more than there is cannot make room beyond the capacity.
    pool.release(10);
    pool.free(10);
    expect({ occupied: pool.occupied, reserved: pool.reserved, available: pool.available }).toEqual({ occupied: 0, reserved: 0, available: 4 });
    expect(pool.reserve(0)).toBe(0);
    expect(pool.reserve(-2)).toBe(0);
  });

  it('two claims in flight at once never promise one slot twice', async () => {
    const pool = new SlotPool(5);
    /** A claim: reserve, wait for the database (a gate), take what came back, give back the rest. */
    const claim = async (want: number, db: Gate<number>) => {
      const limit = pool.reserve(want);
      const got = limit > 0 ? Math.min(limit, await db.promise) : 0;
      pool.take(got);
      pool.release(limit - got);
      return { limit, got };
    };
    const dbA = gate<number>();
    const dbB = gate<number>();
    const a = claim(4, dbA);
    const b = claim(4, dbB);
    await ticks();
    expect(pool.reserved).toBe(5);
    // A third claim while both are in flight gets nothing.
    expect(pool.reserve(1)).toBe(0);
    dbB.open(1);
    expect(await b).toEqual({ limit: 1, got: 1 });
    dbA.open(2);
    expect(await a).toEqual({ limit: 4, got: 2 });
    expect({ occupied: pool.occupied, reserved: pool.reserved, available: pool.available }).toEqual({ occupied: 3, reserved: 0, available: 2 });
  });

  it('whenFree resolves when a slot frees or a reservation comes back, not on take or reserve', async () => {
    const pool = new SlotPool(2);
    pool.reserve(2);
    const first = pool.whenFree();
    // One promise for every waiter until the next free.
    expect(pool.whenFree()).toBe(first);
    pool.take(1);
    pool.reserve(1);
    expect(await settledWithin(first)).toBe(false);
    pool.release(1);
    expect(await settledWithin(first)).toBe(true);
    const second = pool.whenFree();
    expect(second).not.toBe(first);
    expect(await settledWithin(second)).toBe(false);
    pool.free();
    expect(await settledWithin(second)).toBe(true);
  });

  it('a dispatcher waiting on whenFree runs at most `capacity` jobs at once and starts the next on each free', async () => {
    const pool = new SlotPool(2);
    const jobs = Array.from({ length: 5 }, () => gate());
    const started: number[] = [];
    let maxRunning = 0;
    const dispatcher = (async () => {
      for (let next = 0; next < jobs.length;) {
        if (pool.reserve(1) === 0) {
          await pool.whenFree();
          continue;
        }
        pool.take(1);
        const i = next++;
        started.push(i);
        maxRunning = Math.max(maxRunning, pool.occupied);
        void jobs[i]!.promise.then(() => pool.free());
      }
    })();
    await ticks();
    expect(started).toEqual([0, 1]);
    // Out of order: the freed slot goes to the next job, whichever finished.
    jobs[1]!.open();
    await ticks();
    expect(started).toEqual([0, 1, 2]);
    await ticks();
    expect(started).toEqual([0, 1, 2]);
    jobs[0]!.open();
    jobs[2]!.open();
    await ticks();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    await dispatcher;
    expect(maxRunning).toBe(2);
    jobs[3]!.open();
    jobs[4]!.open();
    await ticks();
    expect(pool.occupied).toBe(0);
  });

  it('drain: once closed nothing is reserved; settled() waits for the reservations made before, taken or given back', async () => {
    const pool = new SlotPool(4);
    expect(await settledWithin(pool.settled())).toBe(true);
    pool.reserve(3);
    pool.close();
    expect(pool.isClosed).toBe(true);
    expect(pool.reserve(1)).toBe(0);
    expect(pool.available).toBe(0);
    const settled = pool.settled();
    // A claim already committing still takes its slots in: the drain waits for that work.
    pool.take(2);
    expect(pool.occupied).toBe(2);
    expect(await settledWithin(settled)).toBe(false);
    pool.release(1);
    expect(await settledWithin(settled)).toBe(true);
    // Freeing after close does not reopen it.
    pool.free(2);
    expect(pool.reserve(1)).toBe(0);
  });

  it('refuses a capacity that is not a whole number of slots', () => {
    expect(() => new SlotPool(-1)).toThrow(RangeError);
    expect(() => new SlotPool(1.5)).toThrow(RangeError);
    expect(new SlotPool(0).reserve(1)).toBe(0);
  });
});
