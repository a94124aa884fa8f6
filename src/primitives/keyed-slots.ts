/**
 * At most `capacity` holders per key (concurrent long polls per tenant, WebSockets per API key).
 * `tryAcquire` answers at once: a release function, or null when the key is full. Releasing twice
 * is harmless. Synchronous and single-threaded: no check-then-act gap. Keys with no holder are
 * dropped, so the map holds only keys in use.
 */
export class KeyedSlots {
  private readonly held = new Map<string, number>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`capacity must be an integer >= 0, got ${capacity}`);
  }

  /** Holders of `key` now. */
  count(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /**
   * Takes `weight` of the key's capacity (a tenant's executing GraphQL cost). A weight larger than
   * the capacity is admitted only while the key holds nothing, so no holder waits forever.
   */
  tryAcquire(key: string, weight = 1): (() => void) | null {
    const n = this.held.get(key) ?? 0;
    if (n > 0 ? n + weight > this.capacity : this.capacity === 0) return null;
    this.held.set(key, n + weight);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(key) ?? weight) - weight;
      if (left <= 0) this.held.delete(key);
      else this.held.set(key, left);
    };
  }
}
