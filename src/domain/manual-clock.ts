import { sleepOn, type Clock, type TimerCallback } from './clock';

interface Timer {
  at: number;
  /** Arming order: of two timers due at the same time, the first armed fires first. */
  seq: number;
  fn: TimerCallback;
}

/**
 * A clock that moves only when told, for tests. `await clock.advance(5_000)` lets five seconds
 * pass: every timer due on the way fires at its own time, in time order (a loop every second
 * fires five times), and the work it started finishes before the next one fires (the promise
 * its callback returned, then a few event-loop turns). `set(at)` jumps instead, as a wall clock
 * stepping forward or a suspended process resuming: the timers due by then fire once each, in
 * time order, late, all reading the new time. A timer armed for a time already reached fires on
 * the next turn, as setTimeout(0) would: frozen time still lets what is due happen.
 *
 * A timer callback must not itself wait for this clock to move: moves run one at a time.
 */
export class ManualClock implements Clock {
  private ms: number;
  private seq = 0;
  /** Sorted by (at, seq). */
  private readonly timers: Timer[] = [];
  private moves: Promise<void> = Promise.resolve();
  private dueSoon = false;

  /**
   * @param start the time the clock shows until it is moved.
   * @param settleTicks event-loop turns (setImmediate) given to the work a fired timer started,
   *   beyond the promise its callback returned. @default 10
   */
  constructor(
    start: Date | number,
    private readonly settleTicks = 10,
  ) {
    this.ms = typeof start === 'number' ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  setTimer(at: Date, fn: TimerCallback): () => void {
    const timer: Timer = { at: at.getTime(), seq: this.seq++, fn };
    const i = this.timers.findIndex((t) => t.at > timer.at);
    this.timers.splice(i < 0 ? this.timers.length : i, 0, timer);
    if (timer.at <= this.ms) this.fireDueSoon();
    return () => {
      const at = this.timers.indexOf(timer);
      if (at >= 0) this.timers.splice(at, 1);
    };
  }

  sleepUntil(at: Date, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, at, signal);
  }

  /** Lets `ms` pass (counted from where the clock is once earlier moves are done), firing each timer at its time. */
  advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`advance(ms) needs ms >= 0, got ${ms}`);
    return this.move(() => this.ms + ms, false);
  }

  /** Jumps to `at`, then fires the timers due by then once each; backwards, nothing comes due. */
  set(at: Date): Promise<void> {
    return this.move(() => at.getTime(), true);
  }

  /** Fires the timers already due and lets their work finish, without moving the clock. */
  settle(): Promise<void> {
    return this.move(() => this.ms, false);
  }

  /** Due times of the armed timers, soonest first. */
  pending(): Date[] {
    return this.timers.map((t) => new Date(t.at));
  }

  private move(target: () => number, jump: boolean): Promise<void> {
    const run = this.moves.then(() => this.moveTo(target(), jump));
    this.moves = run.catch(() => undefined);
    return run;
  }

  private async moveTo(target: number, jump: boolean): Promise<void> {
    if (jump) this.ms = target;
    for (;;) {
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.ms = Math.max(this.ms, next.at);
      await next.fn();
      await this.turns();
    }
    this.ms = target;
    await this.turns();
  }

  private fireDueSoon(): void {
    if (this.dueSoon) return;
    this.dueSoon = true;
    setImmediate(() => {
      this.dueSoon = false;
      // A failing callback surfaces as an unhandled rejection: in a test, a failure.
      void this.settle();
    });
  }

  private async turns(): Promise<void> {
    for (let i = 0; i < this.settleTicks; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
