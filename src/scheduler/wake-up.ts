import type { Clock } from '../domain/clock';

/**
 * The one wake-up of the timer pass: armed for the soonest thing known to come due, and never
 * later than one poll interval from now, the fallback for a wake-up lost in transit (a deadline
 * set on another replica, a missed hook).
 */
export class WakeUp {
  private at = Infinity;
  private cancel: (() => void) | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly pollIntervalMs: number,
    /** Returns the work it started, so a manual clock lets it finish before moving on. */
    private readonly onWake: () => Promise<void>,
  ) {}

  /** Arms the wake-up for `at` (capped at a poll interval from now) if that is sooner than the armed one. */
  arm(at: Date): void {
    const target = Math.min(at.getTime(), this.clock.now().getTime() + this.pollIntervalMs);
    if (target >= this.at) return;
    this.cancel?.();
    this.at = target;
    this.cancel = this.clock.setTimer(new Date(target), () => {
      this.cancel = null;
      this.at = Infinity;
      return this.onWake();
    });
  }

  /** Arms the fallback: one poll interval from now, unless something sooner is armed. */
  poll(): void {
    this.arm(new Date(this.clock.now().getTime() + this.pollIntervalMs));
  }

  disarm(): void {
    this.cancel?.();
    this.cancel = null;
    this.at = Infinity;
  }

  /** When it fires (null: not armed). */
  get armedAt(): Date | null {
    return this.at === Infinity ? null : new Date(this.at);
  }
}
