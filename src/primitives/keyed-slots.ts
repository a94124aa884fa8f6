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

  tryAcquire(key: string): (() => void) | null {
    const n = this.held.get(key) ?? 0;
    if (n >= this.capacity) return null;
    this.held.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(key) ?? 1) - 1;
      if (left <= 0) this.held.delete(key);
      else this.held.set(key, left);
    };
  }
}
