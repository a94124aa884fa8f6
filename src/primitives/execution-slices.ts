/**
 * Cooperative slices of one long computation on the event loop. A GraphQL read of 9 pages of
 * 100 runs with their tasks and events completed ~1,800 list fields in one burst of microtasks
 * once its loaders answered: 15–35 ms in which no I/O callback of anybody else ran. Another
 * tenant's one-step run crosses the event loop some twenty times (each statement of three
 * transactions, the publish, the WebSocket send) and waited behind such bursts at every crossing
 * (bench scenario 7: its p99 went from 16 to 110 ms).
 *
 * `next(weight)` lets steps of `perSlice` weight through per turn of the event loop: the steps
 * past it wait, and each `setImmediate` (the check phase, after the poll phase has run every I/O
 * callback that was ready) lets the next waiters go, in order, up to `perSlice` of weight. A step
 * weighs what completing it costs: a list of 100 runs weighs 100, one value 1. A step heavier
 * than a whole slice goes alone, in a turn of its own. A computation lighter than one slice never
 * waits; a long one is spread over turns in which everybody else's callbacks run between its
 * slices. (Weighted since the nine pages of 100 runs of one read, one step each, were released
 * in one turn: ~900 runs completed in one block of 20–30 ms, bench scenario 7.)
 *
 * DataLoader batches go through `batchSchedule`: while steps wait for their turns, a batch is
 * held until every one of them had its turn, so the loads they make join one batch (one
 * statement per loader and level, as without slices) instead of one batch per slice.
 */
export class ExecutionSlices {
  private left: number;
  private readonly waiting: { go: () => void; weight: number }[] = [];
  /** Loader batches held until no step waits. */
  private readonly held: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly perSlice: number) {
    if (!(perSlice >= 1)) throw new RangeError(`perSlice must be >= 1, got ${perSlice}`);
    this.left = perSlice;
  }

  /**
   * Undefined while this slice has room for `weight` (go on at once), or is whole (a heavy step
   * goes alone); else a promise of a later turn.
   */
  next(weight = 1): Promise<void> | undefined {
    if (this.waiting.length === 0 && (weight <= this.left || this.left === this.perSlice)) {
      this.left = Math.max(0, this.left - weight);
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.waiting.push({ go: resolve, weight });
      this.schedule();
    });
  }

  /**
   * DataLoader's `batchScheduleFn`: as DataLoader schedules by default (after the current promise
   * jobs) while no step waits; else once every waiting step had its turn.
   */
  readonly batchSchedule = (dispatch: () => void): void => {
    const hold = () => this.waiting.length > 0 || this.scheduled;
    if (hold()) {
      this.held.push(dispatch);
      return;
    }
    // Steps that queued meanwhile (this turn's slice ran out after the load) hold it too.
    void Promise.resolve().then(() =>
      process.nextTick(() => {
        if (hold()) this.held.push(dispatch);
        else dispatch();
      }),
    );
  };

  /** Steps waiting for a later turn. */
  get queued(): number {
    return this.waiting.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    // (A turn with nothing to release still runs: it lets held batches go.)
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // The first waiter goes whatever its weight; the next ones while the slice has room.
      let left = this.perSlice;
      let n = 0;
      while (n < this.waiting.length && (n === 0 || this.waiting[n]!.weight <= left)) left -= this.waiting[n++]!.weight;
      const released = this.waiting.splice(0, n);
      // The released steps, and whatever they start before this turn ends, share one slice.
      this.left = Math.max(0, left);
      for (const { go } of released) go();
      // The released steps run after this callback and may load more: held batches go one turn
      // after the last release, once nothing was left to release.
      if (this.waiting.length > 0 || (released.length > 0 && this.held.length > 0)) {
        this.schedule();
        return;
      }
      for (const dispatch of this.held.splice(0)) dispatch();
    });
  }
}
