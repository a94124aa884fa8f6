import DataLoader from 'dataloader';
import { describe, expect, it } from 'vitest';
import { ExecutionSlices } from '../../src/primitives/execution-slices';

/** A turn of the event loop: what other requests' callbacks get between two slices. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Somebody else's callbacks, one per turn of the loop for `turns` turns, each recording `mark(t)` in `order`. */
async function otherCallbacks(turns: number, order: string[], mark: (t: number) => string): Promise<void> {
  for (let t = 1; t <= turns; t++) {
    await turn();
    order.push(mark(t));
  }
}

describe('ExecutionSlices', () => {
  it('lets a short computation through without waiting', () => {
    const slices = new ExecutionSlices(4);
    expect([1, 2, 3, 4].map(() => slices.next())).toEqual([undefined, undefined, undefined, undefined]);
    expect(slices.next()).toBeInstanceOf(Promise);
  });

  it('lets perSlice steps through per turn, in order, with other callbacks between the turns', async () => {
    const slices = new ExecutionSlices(3);
    const order: string[] = [];
    // Somebody else's callbacks, one per turn of the loop, waiting already (scheduled first).
    const other = otherCallbacks(4, order, (t) => `other${t}`);
    const steps = Array.from({ length: 10 }, async (_, i) => {
      const wait = slices.next();
      if (wait) await wait;
      order.push(`s${i}`);
    });
    await Promise.all([...steps, other]);
    const slicesSeen = order
      .join(' ')
      .split(/ ?other\d ?/)
      .filter(Boolean);
    // 3 at once, then 3 per turn, in submission order; others ran between them.
    expect(slicesSeen).toEqual(['s0 s1 s2', 's3 s4 s5', 's6 s7 s8', 's9']);
    expect(order.filter((o) => o.startsWith('s'))).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`));
    expect(slices.queued).toBe(0);
  });

  it('weighs steps: a list waits for a turn with room for it, and one heavier than a slice goes alone', async () => {
    const slices = new ExecutionSlices(10);
    const order: string[] = [];
    const other = otherCallbacks(5, order, () => '|');
    // 4 + 4 fit the first slice; 5 does not (2 left); 30 is heavier than a slice: alone; then 3 + 1.
    const weights = [4, 4, 5, 30, 3, 1];
    const steps = weights.map(async (w) => {
      const wait = slices.next(w);
      if (wait) await wait;
      order.push(String(w));
    });
    await Promise.all([...steps, other]);
    const turns = order
      .join(' ')
      .split('|')
      .map((t) => t.trim())
      .filter(Boolean);
    expect(turns).toEqual(['4 4', '5', '30', '3 1']);
  });

  it('counts the steps a released slice starts against that slice', async () => {
    const slices = new ExecutionSlices(2);
    void slices.next();
    void slices.next();
    const released: number[] = [];
    const first = slices.next()!.then(() => {
      released.push(1);
      // Started by the released step in the same turn: the slice has one step left for it.
      expect(slices.next()).toBeUndefined();
      expect(slices.next()).toBeInstanceOf(Promise);
    });
    await first;
    expect(released).toEqual([1]);
  });

  it('holds loader batches until every waiting step had its turn: loads across slices are one batch', async () => {
    const slices = new ExecutionSlices(3);
    const batches: number[][] = [];
    const loader = new DataLoader<number, number>(
      async (keys) => {
        batches.push([...keys]);
        return keys.map((k) => k * 10);
      },
      { batchScheduleFn: slices.batchSchedule },
    );
    // Ten values resolved at once (a page's rows), each completed in its turn and loading more.
    const values = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const wait = slices.next();
        if (wait) await wait;
        return loader.load(i);
      }),
    );
    expect(values).toEqual(Array.from({ length: 10 }, (_, i) => i * 10));
    expect(batches).toEqual([Array.from({ length: 10 }, (_, i) => i)]);
    // With nothing waiting, a batch goes as DataLoader sends it by default.
    const alone = await loader.load(42);
    expect(alone).toBe(420);
    expect(batches).toHaveLength(2);
  });

  it('refuses a slice of no steps', () => {
    expect(() => new ExecutionSlices(0)).toThrow(RangeError);
  });
});
