/**
 * Runs a pass on request, at most `parallel` at once. A request while every lane is busy asks
 * for one more pass once a lane finishes, never a queue of them: a burst of wake-ups costs one
 * extra pass, not one each. The pass handles its own errors (a rejected pass would go unhandled).
 */
export class Passes {
  private readonly running = new Set<Promise<void>>();
  private again = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly opts: {
      /** Passes running at once. */
      parallel: number;
      /** False: requests are ignored and a lane stops after its current pass. */
      active: () => boolean;
    },
  ) {}

  request(): void {
    if (!this.opts.active()) return;
    if (this.running.size >= this.opts.parallel) {
      this.again = true;
      return;
    }
    const run: Promise<void> = this.lane().finally(() => {
      this.running.delete(run);
      if (this.again) this.request();
    });
    this.running.add(run);
  }

  /** Passes running now. */
  get size(): number {
    return this.running.size;
  }

  /** Resolves when no pass runs, counting the ones requested meanwhile. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async lane(): Promise<void> {
    do {
      this.again = false;
      await this.pass();
    } while (this.again && this.opts.active());
  }
}
