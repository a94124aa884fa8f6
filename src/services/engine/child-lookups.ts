import { randomUUID } from 'node:crypto';
import { childRefKey, type ChildLookupsNeeded, type ChildWorkflowRef } from '../../domain/child-runs';
import type { RunRecord, WorkflowRecord } from '../../domain/model';
import type { MachineContext } from '../../domain/run-machine';
import { tenantLoad } from '../../store/quotas.store';
import type { Sql } from '../../store/sql';
import { findLatestWorkflow, findWorkflowVersion } from '../../store/workflows.store';

export interface ChildLimits {
  /** MAX_WORKFLOW_DEPTH. @default 16 */
  maxDepth: number;
  /** TENANT_MAX_ACTIVE_RUNS: child runs count against it. @default 10000 */
  maxActiveRuns: number;
  /** TENANT_MAX_QUEUED_TASKS: the items of a fan-out count against it. @default 100000 */
  maxQueuedTasks?: number;
}

export const DEFAULT_CHILD_LIMITS: ChildLimits = Object.freeze({ maxDepth: 16, maxActiveRuns: 10_000, maxQueuedTasks: 100_000 });

/**
 * What one transaction's transitions read to start child runs: the workflows they name and each
 * tenant's room under TENANT_MAX_ACTIVE_RUNS, read in the transaction (its `sql`) the first time
 * a decision asks (the kernel then decides again; see ChildLookupsNeeded). The workflow read for
 * "the latest version" is the latest committed when the child starts.
 */
export class ChildLookups {
  private readonly workflows = new Map<string, WorkflowRecord | null>();
  /** Active runs of each tenant as counted in this transaction. */
  private readonly counted = new Map<string, number>();
  /** Tasks waiting to run of each tenant as counted in this transaction. */
  private readonly countedQueued = new Map<string, number>();
  /** Room taken by the decide pass under way. */
  private readonly taken = new Map<string, number>();
  private readonly takenQueued = new Map<string, number>();

  constructor(private readonly limits: ChildLimits) {}

  private get maxQueued(): number {
    return this.limits.maxQueuedTasks ?? DEFAULT_CHILD_LIMITS.maxQueuedTasks!;
  }

  /** A new decide pass: the room a discarded pass took goes back. */
  reset(): void {
    this.taken.clear();
    this.takenQueued.clear();
  }

  context(run: RunRecord): NonNullable<MachineContext['children']> {
    return {
      maxDepth: this.limits.maxDepth,
      parent: run,
      workflow: (ref) => this.workflows.get(childRefKey(ref)),
      takeRoom: (tenantId) => {
        const counted = this.counted.get(tenantId);
        if (counted === undefined) return undefined;
        const taken = this.taken.get(tenantId) ?? 0;
        if (counted + taken >= this.limits.maxActiveRuns) return false;
        this.taken.set(tenantId, taken + 1);
        return true;
      },
      takeQueuedRoom: (tenantId, tasks) => {
        const counted = this.countedQueued.get(tenantId);
        if (counted === undefined) return undefined;
        const taken = this.takenQueued.get(tenantId) ?? 0;
        if (counted + taken + tasks > this.maxQueued) return false;
        this.takenQueued.set(tenantId, taken + tasks);
        return true;
      },
      newId: randomUUID,
    };
  }

  async load(sql: Sql, needed: ChildLookupsNeeded): Promise<void> {
    for (const ref of needed.workflows) {
      const key = childRefKey(ref);
      if (this.workflows.has(key)) continue;
      this.workflows.set(key, (await findWorkflow(sql, ref)) ?? null);
    }
    for (const tenantId of new Set(needed.rooms)) {
      if (this.counted.has(tenantId)) continue;
      const load = await tenantLoad(sql, tenantId, this.limits.maxActiveRuns, this.maxQueued + 1);
      this.counted.set(tenantId, load.runs);
      this.countedQueued.set(tenantId, load.queued);
    }
  }
}

function findWorkflow(sql: Sql, ref: ChildWorkflowRef): Promise<WorkflowRecord | undefined> {
  return ref.version === null ? findLatestWorkflow(sql, ref.tenantId, ref.name) : findWorkflowVersion(sql, ref.tenantId, ref.name, ref.version);
}
