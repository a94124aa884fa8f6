/**
 * Turns at a shared resource (the database pool's connections) held by keys (tenants): at most
 * `capacity` turns are held at once, at most `perKey` of them by one key, and a freed turn goes to
 * the waiting key that holds the fewest (the one that waited longest among equals). One tenant's
 * flood therefore queues behind its own share, and another tenant's request is served at the next
 * free turn, not after the flood (bench scenario 7: the 15 aliases of one heavy read queued 14
 * queries ahead of every other tenant's statements in the pool).
 *
 * A wait is bounded: after `timeoutMs` it fails with what `onTimeout` makes (the pool's own
 * connect timeout, so a caller sees the same UNAVAILABLE either way). Synchronous bookkeeping,
 * single-threaded, like SlotPool.
 */
export interface FairTurnsOptions {
  capacity: number;
  perKey: number;
  timeoutMs: number;
  onTimeout: () => Error;
}

interface Waiter {
  seq: number;
  grant: (release: () => void) => void;
  fail: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class FairTurns {
  private readonly held = new Map<string, number>();
  private readonly waiting = new Map<string, Waiter[]>();
  private inUse = 0;
  private seq = 0;

  constructor(private readonly opts: FairTurnsOptions) {
    if (!(opts.capacity >= 1 && opts.perKey >= 1)) throw new RangeError(`turns must be >= 1, got capacity ${opts.capacity}, per key ${opts.perKey}`);
  }

  get capacity(): number {
    return this.opts.capacity;
  }

  /** Turns held now (all keys, or one). */
  holding(key?: string): number {
    return key === undefined ? this.inUse : (this.held.get(key) ?? 0);
  }

  /** Waits queued now (all keys, or one). */
  queued(key?: string): number {
    if (key !== undefined) return this.waiting.get(key)?.length ?? 0;
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  /**
   * A turn for `key`: resolves with its release (idempotent) once granted, at once when a turn
   * is free and the key is under its share with nothing queued; otherwise queued.
   */
  acquire(key: string): Promise<() => void> {
    // Every change grants what it can (dispatch), so with a turn free no waiter may take one: the
    // waiters all hold their key's share.
    if (this.inUse < this.opts.capacity && this.mayTake(key) && !this.waiting.has(key)) return Promise.resolve(this.take(key));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        seq: this.seq++,
        grant: resolve,
        fail: reject,
        timer: setTimeout(() => {
          const q = this.waiting.get(key);
          const i = q?.indexOf(waiter) ?? -1;
          if (q && i >= 0) {
            q.splice(i, 1);
            if (!q.length) this.waiting.delete(key);
          }
          reject(this.opts.onTimeout());
        }, this.opts.timeoutMs),
      };
      const q = this.waiting.get(key);
      if (q) q.push(waiter);
      else this.waiting.set(key, [waiter]);
      this.dispatch();
    });
  }

  private mayTake(key: string): boolean {
    return (this.held.get(key) ?? 0) < this.opts.perKey;
  }

  private take(key: string): () => void {
    this.inUse++;
    this.held.set(key, (this.held.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      const n = (this.held.get(key) ?? 1) - 1;
      if (n > 0) this.held.set(key, n);
      else this.held.delete(key);
      this.dispatch();
    };
  }

  /** Grants free turns: to the waiting key holding the fewest, the longest-waiting among equals. */
  private dispatch(): void {
    while (this.inUse < this.opts.capacity) {
      let best: string | null = null;
      let bestHeld = Infinity;
      let bestSeq = Infinity;
      for (const [key, q] of this.waiting) {
        const h = this.held.get(key) ?? 0;
        if (h >= this.opts.perKey) continue;
        const head = q[0]!;
        if (h < bestHeld || (h === bestHeld && head.seq < bestSeq)) {
          best = key;
          bestHeld = h;
          bestSeq = head.seq;
        }
      }
      if (best === null) return;
      const q = this.waiting.get(best)!;
      const waiter = q.shift()!;
      if (!q.length) this.waiting.delete(best);
      clearTimeout(waiter.timer);
      waiter.grant(this.take(best));
    }
  }
}
