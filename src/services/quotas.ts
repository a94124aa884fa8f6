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
 * The load is counted in Postgres at most once a second per tenant and replica, and this
 * replica's own starts are added meanwhile: a start costs no count query, and a tenant can go
 * over by what other replicas started within that second.
 */
export class TenantQuotas {
  private readonly load = new Map<string, { runs: number; queued: number; at: number }>();

  constructor(
    private readonly deps: {
      db: Database;
      clock: Clock;
      maxActiveRuns: number;
      maxQueuedTasks: number;
    },
  ) {}

  /** Throws QuotaExceededError when the tenant holds its quota of runs or queued tasks. */
  async check(tenantId: string): Promise<void> {
    const { maxActiveRuns, maxQueuedTasks } = this.deps;
    const now = this.deps.clock.now().getTime();
    let known = this.load.get(tenantId);
    if (!known || now - known.at >= REFRESH_MS) {
      known = { ...(await tenantLoad(this.deps.db, tenantId, maxActiveRuns, maxQueuedTasks)), at: now };
      this.load.delete(tenantId);
      if (this.load.size >= MAX_TENANTS) this.load.delete(this.load.keys().next().value!);
      this.load.set(tenantId, known);
    }
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
  }

  /** A run of the tenant started here with `queued` tasks ready. */
  started(tenantId: string, queued: number): void {
    const known = this.load.get(tenantId);
    if (known) {
      known.runs++;
      known.queued += queued;
    }
  }
}
