/**
 * Leases: the liveness half of "Redis holds liveness, Postgres holds safety". A lease says which
 * fencing token may currently work on a task and until when, judged by the lease store's clock
 * (Redis server time; the process clock when embedded), never a worker's. Losing a lease never
 * corrupts state: Postgres accepts a result only with the task's current token.
 */
export interface LeaseRef {
  taskId: string;
  /** The fencing token of the attempt, as a string. */
  fence: string;
  /** Part of the lease's value: a caller of another tenant cannot renew it even knowing the task id. */
  tenantId: string;
  /**
   * The secret of the lease token (domain/lease-token.ts), kept with the lease: a renewal must
   * present it. Release, revoke, `held` and the reaper go by the fence alone (the conductor's
   * side, which may not know it). Absent or null: a lease from before tokens had a secret.
   */
  secret?: string | null;
}

export type RenewResult =
  | { ok: true; expiresAt: Date }
  /** LOST: another token holds it; CANCELLED: revoked (run cancelled, attempt timed out); MISSING: no lease at all. */
  | { ok: false; reason: 'LOST' | 'CANCELLED' | 'MISSING' };

export interface LeaseStore {
  /** Grants leases (batch); returns when each expires, or null where a newer token already holds the task. */
  acquire(leases: readonly (LeaseRef & { ttlMs: number })[]): Promise<(Date | null)[]>;
  /** Extends a lease held with `token`; no Postgres write. */
  renew(lease: LeaseRef, ttlMs: number): Promise<RenewResult>;
  /** Drops a lease held with `token` (the attempt ended). */
  release(leases: readonly LeaseRef[]): Promise<void>;
  /** Marks leases as revoked: their next renewal answers CANCELLED. */
  revoke(leases: readonly LeaseRef[]): Promise<void>;
  /** Leases past their expiry, oldest first. */
  expired(limit: number): Promise<LeaseRef[]>;
  /**
   * Removes and returns up to `limit` expired entries, atomically: of several replicas reaping at
   * once, each entry goes to one (a reaper that dies holding some leaves them to the orphan sweep).
   */
  takeExpired(limit: number): Promise<LeaseRef[]>;
  /**
   * Puts back entries `takeExpired` returned that could not be reclaimed (the database was
   * unavailable): the next reaper pass takes them again, instead of the orphan sweep minutes later.
   */
  untake(leases: readonly LeaseRef[]): Promise<void>;
  /** Removes expired entries once the reaper has dealt with them. */
  forget(leases: readonly LeaseRef[]): Promise<void>;
  /**
   * When each lease expires (or expired, while the reaper has not dealt with it yet), by the lease
   * store's clock; null where the store has no entry for that fence. One round trip for a batch.
   */
  expiresAt(leases: readonly LeaseRef[]): Promise<(Date | null)[]>;
  /** Whether each lease is still held (any state). */
  held(leases: readonly LeaseRef[]): Promise<boolean[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
