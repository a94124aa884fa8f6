/**
 * Lets a key through at most once per `intervalMs` (by the time passed in): the queue-poll record
 * is written once a second per queue per replica however often workers poll. Synchronous: no
 * check-then-act gap. Bounded: past `maxKeys` keys the oldest are forgotten (a forgotten key is
 * let through again, one extra write, never a missed one).
 */
export class KeyedThrottle {
  private readonly last = new Map<string, number>();

  constructor(
    readonly intervalMs: number,
    /** Keys remembered at most. @default 10000 */
    private readonly maxKeys = 10_000,
  ) {
    if (!Number.isInteger(intervalMs) || intervalMs < 0) throw new RangeError(`intervalMs must be an integer >= 0, got ${intervalMs}`);
  }

  /** True (and the key's time is taken) when `key` last passed `intervalMs` or more before `nowMs`, or never. */
  tryPass(key: string, nowMs: number): boolean {
    const last = this.last.get(key);
    if (last !== undefined && nowMs - last < this.intervalMs && nowMs >= last) return false;
    // Re-inserted: the map's order is least recently passed first.
    this.last.delete(key);
    this.last.set(key, nowMs);
    if (this.last.size > this.maxKeys) this.last.delete(this.last.keys().next().value as string);
    return true;
  }

  /** Forgets `key`: its next call passes (a write that failed is tried again at the next poll). */
  reset(key: string): void {
    this.last.delete(key);
  }
}
