import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/domain/clock';
import { ManualClock } from '../../src/domain/manual-clock';
import { gate, settledWithin, ticks } from '../helpers/gates';

const T0 = Date.UTC(2030, 0, 1);
const since = (clock: ManualClock) => clock.now().getTime() - T0;

describe('ManualClock', () => {
  it('advance fires the timers due on the way in time order, each at its own time, and re-armed ones again', async () => {
    const clock = new ManualClock(T0);
    const fired: string[] = [];
    const at = (ms: number) => new Date(T0 + ms);
    clock.setTimer(at(300), () => void fired.push(`c@${since(clock)}`));
    clock.setTimer(at(100), () => void fired.push(`a@${since(clock)}`));
    // Same due time: arming order.
    clock.setTimer(at(100), () => void fired.push(`b@${since(clock)}`));
    // A loop every 250 ms re-arms itself from the time it fired.
    const loop = () => {
      fired.push(`loop@${since(clock)}`);
      clock.setTimer(new Date(clock.now().getTime() + 250), loop);
    };
    clock.setTimer(at(250), loop);
    await clock.advance(600);
    expect(fired).toEqual(['a@100', 'b@100', 'loop@250', 'c@300', 'loop@500']);
    expect(since(clock)).toBe(600);
    expect(clock.pending()).toEqual([at(750)]);
  });

  it('set jumps: the timers due by then fire once each, in time order, reading the new time', async () => {
    const clock = new ManualClock(T0);
    const fired: string[] = [];
    const loop = (name: string, every: number) => {
      const tick = () => {
        fired.push(`${name}@${since(clock)}`);
        clock.setTimer(new Date(clock.now().getTime() + every), tick);
      };
      clock.setTimer(new Date(T0 + every), tick);
    };
    loop('slow', 1_000);
    loop('fast', 10);
    await clock.set(new Date(T0 + 60_000));
    expect(fired).toEqual(['fast@60000', 'slow@60000']);
    // Backwards: nothing comes due.
    await clock.set(new Date(T0));
    expect(fired).toHaveLength(2);
    expect(since(clock)).toBe(0);
  });

  it('a cancelled timer never fires', async () => {
    const clock = new ManualClock(T0);
    let fired = false;
    const cancel = clock.setTimer(new Date(T0 + 10), () => void (fired = true));
    cancel();
    cancel();
    await clock.advance(100);
    expect(fired).toBe(false);
    expect(clock.pending()).toEqual([]);
  });

  it('a timer armed for a time already reached fires on the next turn, without the clock moving', async () => {
    const clock = new ManualClock(T0);
    const fired = gate<number>();
    clock.setTimer(new Date(T0 - 5), () => fired.open(since(clock)));
    expect(await settledWithin(fired.promise)).toBe(true);
    expect(await fired.promise).toBe(0);
  });

  it('lets the work a timer started finish before the next one fires', async () => {
    const clock = new ManualClock(T0);
    const work = gate();
    const order: string[] = [];
    clock.setTimer(new Date(T0 + 10), async () => {
      order.push('first started');
      await work.promise;
      order.push('first done');
    });
    clock.setTimer(new Date(T0 + 20), () => void order.push('second'));
    const moving = clock.advance(50);
    await ticks();
    expect(order).toEqual(['first started']);
    expect(since(clock)).toBe(10);
    expect(await settledWithin(moving)).toBe(false);
    work.open();
    await moving;
    expect(order).toEqual(['first started', 'first done', 'second']);
  });

  it('runs moves one at a time, each from where the last one left the clock', async () => {
    const clock = new ManualClock(T0);
    await Promise.all([clock.advance(100), clock.advance(50)]);
    expect(since(clock)).toBe(150);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it('sleepUntil resolves at its time; an abort rejects it with the reason and disarms its timer', async () => {
    const clock = new ManualClock(T0);
    const nap = clock.sleepUntil(new Date(T0 + 1_000));
    await clock.advance(999);
    expect(await settledWithin(nap)).toBe(false);
    await clock.advance(1);
    await expect(nap).resolves.toBeUndefined();

    const abort = new AbortController();
    const interrupted = clock.sleepUntil(new Date(T0 + 60_000), abort.signal);
    expect(clock.pending()).toHaveLength(1);
    abort.abort(new Error('shutting down'));
    await expect(interrupted).rejects.toThrow('shutting down');
    expect(clock.pending()).toEqual([]);
    await expect(clock.sleepUntil(new Date(T0 + 1), abort.signal)).rejects.toThrow('shutting down');
  });
});

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires a timer at its time, re-arming past setTimeout’s 24.8-day limit instead of firing at once', () => {
    vi.useFakeTimers({ now: T0 });
    let fired = 0;
    const thirtyDays = 30 * 86_400_000;
    systemClock.setTimer(new Date(T0 + thirtyDays), () => void fired++);
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(thirtyDays - (2 ** 31 - 1) - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
  });

  it('cancel and an aborted sleepUntil disarm the timer', async () => {
    vi.useFakeTimers({ now: T0 });
    let fired = false;
    systemClock.setTimer(new Date(T0 + 10), () => void (fired = true))();
    const abort = new AbortController();
    const nap = systemClock.sleepUntil(new Date(T0 + 10), abort.signal);
    abort.abort(new Error('stop'));
    await expect(nap).rejects.toThrow('stop');
    vi.advanceTimersByTime(100);
    expect(fired).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
