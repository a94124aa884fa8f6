/**
 * A fixed number of slots, with reservations: a claim in progress reserves slots before it knows
 * how many tasks it gets, turns the ones it got into occupied slots (`take`) and gives the rest
 * back (`release`); an occupied slot frees when its work ends (`free`). Two claims never promise
 * one slot twice. Synchronous and single-threaded: no check-then-act gap between `available`
 * and `reserve`.
 *
 * Drain: after `close()` nothing new is reserved, and `settled()` resolves once every reservation
 * made before has been taken or released.
 */
export class SlotPool {
  private occupiedSlots = 0;
  private reservedSlots = 0;
  private closed = false;
  private freed: { promise: Promise<void>; resolve: () => void } | null = null;
  private settledWaiters: (() => void)[] = [];

  /** @param capacity slots in all (occupied + reserved never exceed it). */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`capacity must be an integer >= 0, got ${capacity}`);
  }

  /** Slots neither occupied nor reserved (0 once closed). */
  get available(): number {
    return this.closed ? 0 : Math.max(0, this.capacity - this.occupiedSlots - this.reservedSlots);
  }

  get occupied(): number {
    return this.occupiedSlots;
  }

  get reserved(): number {
    return this.reservedSlots;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Reserves up to `n` slots; returns how many it got (0 when full or closed). */
  reserve(n: number): number {
    const granted = Math.max(0, Math.min(Math.floor(n), this.available));
    this.reservedSlots += granted;
    return granted;
  }

  /** Gives back `n` reserved slots that were not used. */
  release(n: number): void {
    if (n <= 0) return;
    this.reservedSlots = Math.max(0, this.reservedSlots - n);
    this.settle();
    this.signalFree();
  }

  /**
   * Turns `n` reserved slots into occupied ones. Allowed after `close()`: work already promised a
   * slot is still taken in, and a drain waits for it.
   */
  take(n: number): void {
    if (n <= 0) return;
    this.reservedSlots = Math.max(0, this.reservedSlots - n);
    this.occupiedSlots += n;
    // Nothing became available: no free signal.
    this.settle();
  }

  /** `n` occupied slots free (their work ended). */
  free(n = 1): void {
    if (n <= 0) return;
    this.occupiedSlots = Math.max(0, this.occupiedSlots - n);
    this.signalFree();
  }

  /**
   * Resolves the next time a slot frees or a reservation is given back: one shared promise for
   * every waiter until then. Whether that left a slot available is for the waiter to ask.
   */
  whenFree(): Promise<void> {
    if (!this.freed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.freed = { promise, resolve };
    }
    return this.freed.promise;
  }

  /** Reserves nothing from now on (reserve answers 0); taking reserved slots still works. */
  close(): void {
    this.closed = true;
  }

  /** Resolves once no slot is reserved (at once if none is). */
  settled(): Promise<void> {
    if (this.reservedSlots === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.settledWaiters.push(resolve));
  }

  private settle(): void {
    if (this.reservedSlots === 0) for (const resolve of this.settledWaiters.splice(0)) resolve();
  }

  private signalFree(): void {
    const freed = this.freed;
    this.freed = null;
    freed?.resolve();
  }
}
