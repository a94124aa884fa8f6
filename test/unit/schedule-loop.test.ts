import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { ScheduleLoop, type ScheduleFiringPort } from '../../src/scheduler/schedule-loop';
import { gate, ticks, type Gate } from '../helpers/gates';

/** A fake firing port: counts passes, holds each on a gate when asked, answers a set next time. */
class FakeFiring implements ScheduleFiringPort {
  passes = 0;
  running = 0;
  maxRunning = 0;
  next: Date | null = null;
  more = false;
  hold: Gate | null = null;
  failNext = false;

  async pass(): Promise<{ more: boolean }> {
    this.passes++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (this.hold) await this.hold.promise;
      if (this.failNext) {
        this.failNext = false;
        throw new Error('database gone');
      }
      const more = this.more;
      this.more = false;
      return { more };
    } finally {
      this.running--;
    }
  }

  nextWorkAt(): Promise<Date | null> {
    return Promise.resolve(this.next);
  }
}

const T0 = new Date('2030-01-01T00:00:00Z');
const quiet = { error: () => undefined, warn: () => undefined, debug: () => undefined };

function setup(pollIntervalMs = 60_000) {
  const clock = new ManualClock(T0);
  const firing = new FakeFiring();
  const errors: string[] = [];
  const loop = new ScheduleLoop({ firing, clock, pollIntervalMs, log: { ...quiet, error: (_o, msg) => errors.push(msg) } });
  return { clock, firing, loop, errors };
}

describe('ScheduleLoop', () => {
  it('passes at start, then wakes at the next fire time, not before', async () => {
    const { clock, firing, loop } = setup();
    firing.next = new Date(T0.getTime() + 5_000);
    loop.start();
    await loop.idle();
    expect(firing.passes).toBe(1);
    firing.next = null;
    await clock.advance(4_999);
    expect(firing.passes).toBe(1);
    await clock.advance(1);
    expect(firing.passes).toBe(2);
    await loop.stop();
  });

  it('falls back to the poll interval when nothing is known to come due', async () => {
    const { clock, firing, loop } = setup(1_000);
    loop.start();
    await loop.idle();
    await clock.advance(3_000);
    expect(firing.passes).toBe(4);
    await loop.stop();
  });

  it('never overlaps passes; wake-ups during one coalesce into one more', async () => {
    const { firing, loop } = setup();
    firing.hold = gate();
    loop.start();
    await ticks();
    for (let i = 0; i < 5; i++) loop.wake();
    const held = firing.hold;
    firing.hold = null;
    held.open();
    await loop.idle();
    expect(firing.maxRunning).toBe(1);
    expect(firing.passes).toBe(2);
    await loop.stop();
  });

  it('passes again at once after a full batch', async () => {
    const { firing, loop } = setup();
    firing.more = true;
    loop.start();
    await loop.idle();
    expect(firing.passes).toBe(2);
    await loop.stop();
  });

  it('logs a failed pass and keeps polling', async () => {
    const { clock, firing, loop, errors } = setup(1_000);
    firing.failNext = true;
    loop.start();
    await loop.idle();
    expect(errors).toEqual(['schedule pass failed; retrying after the poll interval']);
    await clock.advance(1_000);
    expect(firing.passes).toBe(2);
    await loop.stop();
  });

  it('stops: no pass after stop, whatever is armed', async () => {
    const { clock, firing, loop } = setup(1_000);
    loop.start();
    await loop.idle();
    await loop.stop();
    loop.wake();
    await clock.advance(10_000);
    expect(firing.passes).toBe(1);
  });
});
