import type { Clock } from '../domain/clock';
import type { LeaseRef, LeaseStore, RenewResult } from './lease-store';

interface Entry {
  tenantId: string;
  fence: string;
  secret: string | null;
  revoked: boolean;
  expiresAt: number;
}

/** Embedded mode: one process, so its clock and memory are the lease store. Same semantics as Redis. */
export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, Entry>();
  /** Entries the reaper has not forgotten yet, including those whose lease key expired. */
  private readonly expiries = new Map<string, { ref: LeaseRef; at: number }>();

  constructor(private readonly clock: Clock) {}

  private live(taskId: string): Entry | undefined {
    const e = this.leases.get(taskId);
    if (e && e.expiresAt <= this.clock.now().getTime()) {
      this.leases.delete(taskId);
      return undefined;
    }
    return e;
  }

  async acquire(leases: readonly (LeaseRef & { ttlMs: number })[]): Promise<(Date | null)[]> {
    const now = this.clock.now().getTime();
    return leases.map((l) => {
      const held = this.live(l.taskId);
      if (held && BigInt(held.fence) > BigInt(l.fence)) return null;
      const expiresAt = now + l.ttlMs;
      this.leases.set(l.taskId, { tenantId: l.tenantId, fence: l.fence, secret: l.secret ?? null, revoked: false, expiresAt });
      this.expiries.set(`${l.taskId}|${l.fence}`, { ref: { taskId: l.taskId, fence: l.fence, tenantId: l.tenantId }, at: expiresAt });
      return new Date(expiresAt);
    });
  }

  async renew(lease: LeaseRef, ttlMs: number): Promise<RenewResult> {
    const e = this.live(lease.taskId);
    if (!e) return { ok: false, reason: 'MISSING' };
    if (e.fence !== lease.fence || e.tenantId !== lease.tenantId || e.secret !== (lease.secret ?? null)) return { ok: false, reason: 'LOST' };
    if (e.revoked) return { ok: false, reason: 'CANCELLED' };
    e.expiresAt = this.clock.now().getTime() + ttlMs;
    this.expiries.set(`${lease.taskId}|${lease.fence}`, { ref: { taskId: lease.taskId, fence: lease.fence, tenantId: lease.tenantId }, at: e.expiresAt });
    return { ok: true, expiresAt: new Date(e.expiresAt) };
  }

  async release(leases: readonly LeaseRef[]): Promise<void> {
    for (const l of leases) {
      const e = this.leases.get(l.taskId);
      if (e?.fence === l.fence && e.tenantId === l.tenantId) this.leases.delete(l.taskId);
      this.expiries.delete(`${l.taskId}|${l.fence}`);
    }
  }

  async revoke(leases: readonly LeaseRef[]): Promise<void> {
    for (const l of leases) {
      const e = this.live(l.taskId);
      if (e?.fence === l.fence && e.tenantId === l.tenantId) e.revoked = true;
    }
  }

  async expired(limit: number): Promise<LeaseRef[]> {
    const now = this.clock.now().getTime();
    return [...this.expiries.values()]
      .filter((x) => x.at <= now)
      .sort((a, b) => a.at - b.at)
      .slice(0, limit)
      .map((x) => x.ref);
  }

  async takeExpired(limit: number): Promise<LeaseRef[]> {
    const taken = await this.expired(limit);
    await this.forget(taken);
    return taken;
  }

  async untake(leases: readonly LeaseRef[]): Promise<void> {
    for (const l of leases) {
      const key = `${l.taskId}|${l.fence}`;
      if (!this.expiries.has(key)) this.expiries.set(key, { ref: { taskId: l.taskId, fence: l.fence, tenantId: l.tenantId }, at: 0 });
    }
  }

  async forget(leases: readonly LeaseRef[]): Promise<void> {
    for (const l of leases) this.expiries.delete(`${l.taskId}|${l.fence}`);
  }

  async expiresAt(leases: readonly LeaseRef[]): Promise<(Date | null)[]> {
    return leases.map((l) => {
      const at = this.expiries.get(`${l.taskId}|${l.fence}`)?.at;
      return at === undefined ? null : new Date(at);
    });
  }

  async held(leases: readonly LeaseRef[]): Promise<boolean[]> {
    return leases.map((l) => {
      const e = this.live(l.taskId);
      return e?.fence === l.fence && e.tenantId === l.tenantId;
    });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
