import type { Clock } from '../domain/clock';

/**
 * A pass every `intervalMs` on the clock that never overlaps itself: the next one is armed when
 * this one ends, so a slow pass (a reaper pass on a busy database) delays the next instead of
 * stacking passes. The pass handles its own errors.
 */
export class Every {
  private cancel: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;

  constructor(
    private readonly clock: Clock,
    readonly intervalMs: number,
    private readonly tick: (now: Date) => Promise<void>,
  ) {}

  /** Arms the first pass, one interval from now. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.arm();
  }

  /** No pass after this one; resolves when the pass running now (if any) has ended. */
  stop(): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
    return this.running ?? Promise.resolve();
  }

  private arm(): void {
    if (this.stopped) return;
    this.cancel = this.clock.setTimer(new Date(this.clock.now().getTime() + this.intervalMs), () => this.fire());
  }

  /** Returns the pass, so a manual clock lets it finish before it moves on. */
  private fire(): Promise<void> {
    this.cancel = null;
    const run = this.tick(this.clock.now()).finally(() => {
      this.running = null;
      this.arm();
    });
    this.running = run;
    return run;
  }
}
