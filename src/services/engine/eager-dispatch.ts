import { WORKFLOW_STEP_TYPE } from '../../domain/child-runs';
import { isTerminalRun } from '../../domain/run-machine';
import type { TaskRecord } from '../../domain/model';
import type { LocalDispatch } from '../../scheduler/ports';
import type { Batch } from './batch';
import type { Staging } from './kernel';

/**
 * A ready built-in task any claim may take as it is: a rate-limited task is left to the
 * dispatcher's claim, which decides its limit in Postgres; a task of a step with `concurrency`
 * (its key in `gated`) to the claim that takes its group's slot; a `workflow` step to the
 * dispatcher, which starts its child.
 */
export function plainReady(
  t: Pick<TaskRecord, 'status' | 'queue' | 'type' | 'rateLimitKey' | 'key'> & { availableAt?: Date | null },
  gated: ReadonlySet<string>,
  now: Date,
): boolean {
  return (
    t.status === 'QUEUED' &&
    t.queue === null &&
    t.type !== WORKFLOW_STEP_TYPE &&
    t.rateLimitKey === null &&
    !gated.has(t.key) &&
    (t.availableAt == null || t.availableAt <= now)
  );
}

/** The keys of a definition's steps with `concurrency`: claimed through their group's lock, never eagerly. */
export function gatedSteps(definition: { steps: readonly { key: string; concurrency?: unknown }[] }): Set<string> {
  return new Set(definition.steps.filter((s) => s.concurrency !== undefined).map((s) => s.key));
}

/**
 * Eager dispatch: when a transition makes built-in steps ready, the same transaction claims them
 * for this replica's executors, as far as it has free slots — in memory, under the locks it
 * already holds, written with the rest of the batch. A 10-step chain of built-in steps runs
 * without a claim transaction after its first step (104 → 58 statements per run; Temporal's
 * eager activity dispatch does the like).
 */
export class EagerDispatch {
  constructor(private readonly local: LocalDispatch) {}

  /** Claims the ready built-in tasks of the runs this batch changed, on reserved local slots. */
  claim(batch: Batch, staging: Staging): void {
    const candidates: { runId: string; taskId: string; tenantId: string; type: string }[] = [];
    for (const { run, tasks, definition } of staging.runs) {
      const gated = gatedSteps(definition);
      // Runs locked only to answer LEASE_LOST and the like are left alone.
      // A PAUSED run starts nothing: its ready tasks wait for resume.
      if (!staging.changed(run.id) || isTerminalRun(run.status) || run.status === 'PAUSED') continue;
      for (const t of tasks) {
        if (plainReady(t, gated, batch.now)) candidates.push({ runId: run.id, taskId: t.id, tenantId: run.tenantId, type: t.type });
      }
    }
    if (candidates.length === 0) return;
    const granted = this.reserve(batch, candidates);
    const byRun = new Map<string, string[]>();
    for (const c of granted) byRun.set(c.runId, [...(byRun.get(c.runId) ?? []), c.taskId]);
    for (const [runId, taskIds] of byRun) staging.apply(runId, { kind: 'claim', taskIds, workerId: this.local.workerId });
    // Every ready built-in task is in hand: no replica needs waking for them.
    if (granted.length === candidates.length) batch.ready = batch.ready.filter((q) => q !== null);
  }

  /**
   * Eager start: slots for a new run's plain ready roots, reserved on `batch` (the start's
   * announcement), as far as the tenant's share and the free slots allow, and none while queued
   * work waits for the dispatcher (it goes first, in priority order); returns the ids of the
   * roots to claim in the start's insert (the rest stay queued for the dispatcher). Given back
   * with `giveBack` when the insert does not happen.
   */
  reserveRoots(batch: Batch, tenantId: string, roots: readonly { id: string; type: string }[]): string[] {
    return this.reserve(
      batch,
      roots.map((t) => ({ taskId: t.id, tenantId, type: t.type })),
      true,
    ).map((c) => c.taskId);
  }

  /** Each tenant within its share of the executors, as far as slots are free: the candidates granted, counted on `batch`. */
  private reserve<C extends { taskId: string; tenantId: string; type: string }>(batch: Batch, candidates: readonly C[], forStart = false): C[] {
    const admitted = candidates.filter((c) => this.local.admit(c.tenantId, c.type));
    const granted = this.local.reserve(admitted.length, forStart);
    for (const c of admitted.slice(granted)) this.local.unadmit(c.tenantId, c.type);
    batch.reserved += granted;
    for (const c of admitted.slice(0, granted)) batch.admitted.set(c.taskId, { tenantId: c.tenantId, type: c.type });
    return admitted.slice(0, granted);
  }

  /** A rolled-back or retried transaction's reservations go back. */
  giveBack(batch: Batch): void {
    if (batch.reserved > 0) this.local.unreserve(batch.reserved);
    batch.reserved = 0;
    for (const a of batch.admitted.values()) this.local.unadmit(a.tenantId, a.type);
    batch.admitted.clear();
  }

  /** After commit: the claimed tasks go to the executors (launched even while draining: they are claimed), unused slots back. */
  handOver(batch: Batch, expiries: ReadonlyMap<string, Date>): void {
    const claimed = batch.claims.filter((c) => c.eager);
    if (batch.reserved > claimed.length) this.local.unreserve(batch.reserved - claimed.length);
    batch.reserved = 0;
    for (const c of claimed) batch.admitted.delete(c.task.id);
    for (const a of batch.admitted.values()) this.local.unadmit(a.tenantId, a.type);
    batch.admitted.clear();
    if (claimed.length) this.local.take(claimed.map((c) => ({ task: c.task, expiresAt: expiries.get(c.task.id) ?? batch.now })));
  }

  get workerId(): string {
    return this.local.workerId;
  }

  get leaseMs(): number {
    return this.local.leaseMs;
  }
}
