import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { BusyShares } from '../../src/primitives/busy-shares';

const shares = (clock: ManualClock, perTenant = 1, maxQueued = 100) =>
  new BusyShares({
    perTenant,
    busyAt: 0.7,
    maxWaitMs: 5_000,
    maxQueued,
    clock,
    refuse: (why, tenantId) => new Error(`${why}:${tenantId}`),
  });

/** Whether the promise settled within a few turns (granted or refused). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  return done;
}

/** Two tenants sending and the loop busy: the limit holds. */
async function busyWithTwoTenants(s: BusyShares): Promise<Array<() => void>> {
  const held = [await s.enter('a'), await s.enter('b')];
  s.observe(0.95);
  s.observe(0.95);
  expect(s.limiting).toBe(true);
  return held;
}

describe('BusyShares', () => {
  it('limits nobody while the loop has room, however many requests a tenant sends', async () => {
    const s = shares(new ManualClock(0));
    await s.enter('b');
    s.observe(0.5);
    const mine = await Promise.all(Array.from({ length: 8 }, () => s.enter('a')));
    expect(s.counts('a')).toEqual({ executing: 8, waiting: 0 });
    expect(s.limiting).toBe(false);
    for (const release of mine) release();
    expect(s.counts('a').executing).toBe(0);
  });

  it('limits nobody when one tenant alone keeps the loop busy', async () => {
    const s = shares(new ManualClock(0));
    s.observe(1);
    s.observe(1);
    const mine = await Promise.all(Array.from({ length: 8 }, () => s.enter('a')));
    s.observe(1);
    expect(s.limiting).toBe(false);
    expect(s.counts('a').executing).toBe(8);
    mine.forEach((r) => r());
  });

  it('holds a busy tenant to its share while another sends; the other is never held', async () => {
    const s = shares(new ManualClock(0));
    const [a1, b1] = await busyWithTwoTenants(s);
    const a2 = s.enter('a');
    const a3 = s.enter('a');
    expect(await settled(a2)).toBe(false);
    expect(s.counts('a')).toEqual({ executing: 1, waiting: 2 });
    // Tenant b, at its one request, waits for nobody.
    b1!();
    expect(await settled(s.enter('b'))).toBe(true);
    // a's first ends: its next waiting request goes, in order; the third still waits.
    a1!();
    expect(await settled(a2)).toBe(true);
    expect(await settled(a3)).toBe(false);
    (await a2)();
    expect(await settled(a3)).toBe(true);
  });

  it('paces a busy tenant to its share of the time: the turn it held, again, before its next (manual clock)', async () => {
    const clock = new ManualClock(0);
    const s = shares(clock);
    const [a1, b1] = await busyWithTwoTenants(s);
    b1!();
    const a2 = s.enter('a');
    // a's first request holds its turn 10 ms, then ends with its second waiting: one other
    // tenant sends, so a waits those 10 ms again.
    await clock.advance(10);
    a1!();
    expect(await settled(a2)).toBe(false);
    await clock.advance(9);
    expect(await settled(a2)).toBe(false);
    // b, which held its turn for no time, is never paced.
    expect(await settled(s.enter('b'))).toBe(true);
    await clock.advance(1);
    expect(await settled(a2)).toBe(true);
    expect(s.counts('a')).toEqual({ executing: 1, waiting: 0 });
  });

  it('paces nobody while the loop has room, nor a tenant alone', async () => {
    const clock = new ManualClock(0);
    const s = shares(clock);
    s.observe(1);
    s.observe(1);
    const a1 = await s.enter('a');
    await clock.advance(50);
    a1();
    expect(await settled(s.enter('a'))).toBe(true);
  });

  it('lets every waiting request go once the loop has room again', async () => {
    const s = shares(new ManualClock(0));
    await busyWithTwoTenants(s);
    const waiting = [s.enter('a'), s.enter('a'), s.enter('a')];
    expect(s.counts('a').waiting).toBe(3);
    // Just under the line: still busy (hysteresis); well under it: free.
    s.observe(0.62);
    expect(s.limiting).toBe(true);
    s.observe(0.1);
    s.observe(0.1);
    expect(s.limiting).toBe(false);
    for (const w of waiting) expect(await settled(w)).toBe(true);
    expect(s.counts('a')).toEqual({ executing: 4, waiting: 0 });
  });

  it('stops limiting when the other tenant has been quiet a second', async () => {
    const clock = new ManualClock(0);
    const s = shares(clock);
    const [, b1] = await busyWithTwoTenants(s);
    const a2 = s.enter('a');
    b1!();
    await clock.advance(500);
    s.observe(0.95);
    expect(await settled(a2)).toBe(false);
    await clock.advance(600);
    s.observe(0.95);
    expect(s.limiting).toBe(false);
    expect(await settled(a2)).toBe(true);
  });

  it('refuses a request that waited too long, and one past the queue cap, without holding a turn', async () => {
    const clock = new ManualClock(0);
    const s = shares(clock, 1, 2);
    await busyWithTwoTenants(s);
    const waited = s.enter('a');
    const second = s.enter('a');
    await expect(s.enter('a')).rejects.toThrow('queue_full:a');
    const outcomes = Promise.allSettled([waited, second]);
    await clock.advance(5_000);
    expect((await outcomes).map((o) => (o.status === 'rejected' ? String(o.reason) : o.status))).toEqual(['Error: waited:a', 'Error: waited:a']);
    expect(s.counts('a')).toEqual({ executing: 1, waiting: 0 });
  });

  it('releases are idempotent, and a share of 0 turns the limit off', async () => {
    const s = shares(new ManualClock(0));
    const [a1] = await busyWithTwoTenants(s);
    a1!();
    a1!();
    expect(s.counts('a').executing).toBe(0);
    const off = shares(new ManualClock(0), 0);
    await off.enter('b');
    off.observe(1);
    off.observe(1);
    await Promise.all([off.enter('a'), off.enter('a')]);
    expect(off.limiting).toBe(false);
    // Off: nothing is counted or remembered.
    expect(off.counts()).toEqual({ executing: 0, waiting: 0 });
  });

  it('counts as free again below the line, however low the line is set', () => {
    const low = new BusyShares({ perTenant: 1, busyAt: 0.05, maxWaitMs: 5_000, maxQueued: 10, clock: new ManualClock(0), refuse: () => new Error('refused') });
    void low.enter('a');
    void low.enter('b');
    low.observe(1);
    expect(low.limiting).toBe(true);
    for (let i = 0; i < 10; i++) low.observe(0);
    expect(low.limiting).toBe(false);
  });
});
