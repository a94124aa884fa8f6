/**
 * Cooperative slices of one long computation on the event loop. A GraphQL read of 9 pages of
 * 100 runs with their tasks and events completed ~1,800 list fields in one burst of microtasks
 * once its loaders answered: 15–35 ms in which no I/O callback of anybody else ran. Another
 * tenant's one-step run crosses the event loop some twenty times (each statement of three
 * transactions, the publish, the WebSocket send) and waited behind such bursts at every crossing
 * (bench scenario 7: its p99 went from 16 to 110 ms).
 *
 * `next()` lets `perSlice` steps through per turn of the event loop: the steps past it wait, and
 * each `setImmediate` (the check phase, after the poll phase has run every I/O callback that was
 * ready) lets the next `perSlice` waiters go, in order. A computation of fewer steps never waits;
 * a long one is spread over turns in which everybody else's callbacks run between its slices.
 *
 * DataLoader batches go through `batchSchedule`: while steps wait for their turns, a batch is
 * held until every one of them had its turn, so the loads they make join one batch (one
 * statement per loader and level, as without slices) instead of one batch per slice.
 */
export class ExecutionSlices {
  private left: number;
  private readonly waiting: (() => void)[] = [];
  /** Loader batches held until no step waits. */
  private readonly held: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly perSlice: number) {
    if (!(perSlice >= 1)) throw new RangeError(`perSlice must be >= 1, got ${perSlice}`);
    this.left = perSlice;
  }

  /** Undefined while this slice has room (go on at once); else a promise of a later turn. */
  next(): Promise<void> | undefined {
    if (this.left > 0 && this.waiting.length === 0) {
      this.left--;
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
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
      const released = this.waiting.splice(0, this.perSlice);
      // The released steps, and whatever they start before this turn ends, share one slice.
      this.left = this.perSlice - released.length;
      for (const go of released) go();
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
