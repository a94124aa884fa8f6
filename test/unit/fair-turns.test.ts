import { afterEach, describe, expect, it, vi } from 'vitest';
import { FairTurns } from '../../src/primitives/fair-turns';

const turns = (capacity: number, perKey: number, timeoutMs = 60_000) =>
  new FairTurns({ capacity, perKey, timeoutMs, onTimeout: () => new Error(`no turn within ${timeoutMs} ms`) });

/** Acquires for `key` and records the grant order; returns the pending acquisition. */
function recordGrants(order: string[]) {
  return (t: FairTurns, key: string, label = key) =>
    t.acquire(key).then((release) => {
      order.push(label);
      return release;
    });
}

const ticks = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

describe('FairTurns', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('grants at once up to the capacity and a key’s share, and queues the rest', async () => {
    const t = turns(4, 2);
    const a1 = await t.acquire('a');
    await t.acquire('a');
    let third = false;
    void t.acquire('a').then(() => (third = true));
    await ticks();
    expect({ third, held: t.holding('a'), queued: t.queued('a') }).toEqual({ third: false, held: 2, queued: 1 });
    // Another key is under its share and turns are free: served at once.
    await t.acquire('b');
    expect(t.holding()).toBe(3);
    a1();
    await ticks();
    expect({ third, held: t.holding('a'), queued: t.queued() }).toEqual({ third: true, held: 2, queued: 0 });
  });

  it('a freed turn goes to the waiting key holding the fewest, not to the longest queue', async () => {
    const t = turns(3, 3);
    const order: string[] = [];
    const acquire = recordGrants(order);
    const held = await Promise.all([t.acquire('a'), t.acquire('a'), t.acquire('a')]);
    // A floods: ten more of its statements queue; then B and C ask once each.
    const flood = Array.from({ length: 10 }, (_, i) => acquire(t, 'a', `a${i}`));
    const b = acquire(t, 'b');
    const c = acquire(t, 'c');
    await ticks();
    held[0]!();
    held[1]!();
    await ticks();
    // B and C hold none: they go before A's queue, in the order they came.
    expect(order).toEqual(['b', 'c']);
    (await b)();
    (await c)();
    held[2]!();
    await ticks();
    expect(order.slice(2)).toEqual(['a0', 'a1', 'a2']);
    for (const r of await Promise.all(flood.slice(0, 3))) r();
    await ticks(5);
    expect(order.length).toBe(8);
    for (const pending of flood.slice(3)) (await pending)();
    expect({ held: t.holding(), queued: t.queued() }).toEqual({ held: 0, queued: 0 });
  });

  it('one key never holds more than its share, even with every other turn free', async () => {
    const t = turns(10, 3);
    let granted = 0;
    const all = Array.from({ length: 20 }, () =>
      t.acquire('a').then((release) => {
        granted++;
        return release;
      }),
    );
    await ticks();
    expect({ granted, held: t.holding('a'), queued: t.queued('a') }).toEqual({ granted: 3, held: 3, queued: 17 });
    // The other seven turns stay free for other keys.
    const others = await Promise.all(Array.from({ length: 7 }, (_, i) => t.acquire(`k${i}`)));
    expect(t.holding()).toBe(10);
    others.forEach((r) => r());
    let served = 3;
    while (served < 20) {
      const first = await all[served - 3]!;
      first();
      await ticks();
      served++;
      expect(t.holding('a')).toBe(3);
    }
  });

  it('a release is idempotent: releasing twice frees one turn', async () => {
    const t = turns(1, 1);
    const r = await t.acquire('a');
    let second = false;
    void t.acquire('b').then(() => (second = true));
    let third = false;
    void t.acquire('c').then(() => (third = true));
    r();
    r();
    await ticks();
    expect({ second, third, held: t.holding() }).toEqual({ second: true, third: false, held: 1 });
  });

  it('a wait past the timeout fails with onTimeout and leaves the queue', async () => {
    vi.useFakeTimers();
    const t = turns(1, 1, 5_000);
    const held = await t.acquire('a');
    const waiting = t.acquire('b');
    const failed = expect(waiting).rejects.toThrow('no turn within 5000 ms');
    vi.advanceTimersByTime(4_999);
    expect(t.queued('b')).toBe(1);
    vi.advanceTimersByTime(1);
    await failed;
    expect(t.queued()).toBe(0);
    // The timed-out waiter is not granted later: the freed turn stays free.
    held();
    expect(t.holding()).toBe(0);
  });

  it('refuses a capacity or share below 1', () => {
    expect(() => turns(0, 1)).toThrow(RangeError);
    expect(() => turns(1, 0)).toThrow(RangeError);
  });
});
