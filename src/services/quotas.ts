import type { Clock } from '../domain/clock';
import { QuotaExceededError } from '../domain/errors';
import { tenantLoad } from '../store/quotas.store';
import type { Database } from '../store/sql';

/** How long a tenant's counted load is trusted before it is counted again. */
const REFRESH_MS = 1_000;
/** Tenants whose load this replica remembers (oldest forgotten first). */
const MAX_TENANTS = 10_000;

/**
 * Per-tenant quotas checked by startRun: runs in flight (PENDING or RUNNING) and tasks queued.
 * The load is counted in Postgres at most once a second per tenant and replica (one count at a
 * time: concurrent starts wait for the same one), and a start that passes takes its run at once,
 * before it is written: so concurrent starts on one replica cannot all pass on the same count
 * (20 at once passed a quota of 3 when each took its place only after its insert). A tenant can
 * go over by what other replicas started within that second.
 */
export class TenantQuotas {
  private readonly load = new Map<string, { runs: number; queued: number; at: number }>();
  private readonly counting = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: {
      db: Database;
      clock: Clock;
      maxActiveRuns: number;
      maxQueuedTasks: number;
    },
  ) {}

  /** Throws QuotaExceededError when the tenant holds its quota of runs or queued tasks; else takes room for one run. */
  async check(tenantId: string): Promise<void> {
    const { maxActiveRuns, maxQueuedTasks } = this.deps;
    const now = this.deps.clock.now().getTime();
    const cached = this.load.get(tenantId);
    if (!cached || now - cached.at >= REFRESH_MS) await this.count(tenantId, now);
    const known = this.load.get(tenantId)!;
    if (known.runs >= maxActiveRuns) {
      throw new QuotaExceededError(
        `This tenant has ${maxActiveRuns} runs PENDING or RUNNING, its quota (TENANT_MAX_ACTIVE_RUNS): wait for some to finish or cancel them, then start again`,
        { quota: 'TENANT_MAX_ACTIVE_RUNS', max: maxActiveRuns },
      );
    }
    if (known.queued >= maxQueuedTasks) {
      throw new QuotaExceededError(
        `This tenant has ${maxQueuedTasks} tasks queued, its quota (TENANT_MAX_QUEUED_TASKS): let workers drain them, then start again`,
        { quota: 'TENANT_MAX_QUEUED_TASKS', max: maxQueuedTasks },
      );
    }
    // Taken now, in the same turn as the check: a start that fails later holds it until the next count.
    known.runs++;
  }

  /** A run of the tenant started here with `queued` tasks ready (its run was taken by check). */
  started(tenantId: string, queued: number): void {
    const known = this.load.get(tenantId);
    if (known) known.queued += queued;
  }

  /** Counts the tenant's load, once for every start waiting on it. */
  private count(tenantId: string, now: number): Promise<void> {
    let pending = this.counting.get(tenantId);
    if (!pending) {
      const { maxActiveRuns, maxQueuedTasks } = this.deps;
      pending = tenantLoad(this.deps.db, tenantId, maxActiveRuns, maxQueuedTasks)
        .then((load) => {
          this.load.delete(tenantId);
          if (this.load.size >= MAX_TENANTS) this.load.delete(this.load.keys().next().value!);
          this.load.set(tenantId, { ...load, at: now });
        })
        .finally(() => this.counting.delete(tenantId));
      this.counting.set(tenantId, pending);
    }
    return pending;
  }
}
