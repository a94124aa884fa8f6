import type { EventBus } from '../../events/event-bus';
import type { EngineHooks } from '../../domain/hooks';
import { attemptCause } from '../../domain/model';
import type { LeaseStore } from '../../leases/lease-store';
import type { Batch } from './batch';
import type { EagerDispatch } from './eager-dispatch';

export interface AnnouncerDeps {
  bus: EventBus;
  leases: LeaseStore;
  hooks: EngineHooks;
  eager: EagerDispatch | null;
  onPublishError: (e: unknown) => void;
}

/**
 * Tells the world what a committed batch did: leases for its claims, its events and ready signals,
 * lease settlements, hooks, and eager claims handed to the executors. Only after commit: a
 * subscriber must not see an event the database may still roll back, and a lease granted for a
 * claim that rolled back would be held by nobody. A crash between commit and announce loses only
 * live copies: subscribers fill gaps from the stored history, the orphan sweep reclaims RUNNING
 * tasks without a lease. Never throws: the batch is committed, whatever fails here.
 */
export class Announcer {
  constructor(private readonly deps: AnnouncerDeps) {}

  /** Returns when each claim's lease expires (by task id). */
  async announce(batch: Batch): Promise<ReadonlyMap<string, Date>> {
    const { bus, leases, hooks, eager, onPublishError } = this.deps;
    // Created means committed: said first, before anything is published about the run.
    this.emit(() => {
      for (const r of batch.createdRuns) hooks.emit('run:created', { tenantId: r.tenantId, runId: r.id, workflow: r.workflowName, traceparent: r.traceparent });
    });
    // Leases, events and settlements at once: each is a round trip to Redis, and one after the
    // other they added up behind a busy event loop (bench scenario 7). Nothing waits on their order.
    const [expiries] = await Promise.all([
      this.grant(batch),
      Promise.all([bus.publish(batch.events), bus.signalReady(batch.ready, batch.readyBuiltIn)]).catch(onPublishError),
      leases.release(batch.release).catch(onPublishError),
      leases.revoke(batch.revoke).catch(onPublishError),
    ]);
    this.emit(() => this.emitHooks(batch, hooks));
    eager?.handOver(batch, expiries);
    return expiries;
  }

  /** A listener's fault is reported, never thrown: the batch is committed. */
  private emit(fn: () => void): void {
    try {
      fn();
    } catch (e: unknown) {
      this.deps.onPublishError(e);
    }
  }

  /** A lease store failure leaves the leases ungranted: the orphan sweep reclaims those tasks. */
  private async grant(batch: Batch): Promise<Map<string, Date>> {
    const expiries = new Map<string, Date>();
    if (batch.claims.length === 0) return expiries;
    try {
      const granted = await this.deps.leases.acquire(
        batch.claims.map((c) => ({ taskId: c.task.id, fence: c.task.fence, secret: c.task.leaseSecret, tenantId: c.task.tenantId, ttlMs: c.leaseMs })),
      );
      // null: a newer claim already holds the task (this grant was late); the holder hears LEASE_LOST.
      batch.claims.forEach((c, i) => expiries.set(c.task.id, granted[i] ?? batch.now));
    } catch (e: unknown) {
      this.deps.onPublishError(e);
      for (const c of batch.claims) expiries.set(c.task.id, new Date(batch.now.getTime() + c.leaseMs));
    }
    return expiries;
  }

  private emitHooks(batch: Batch, hooks: EngineHooks): void {
    const now = batch.now.getTime();
    // `now` included: a resumed run's timers that fell due while it was paused fire at once.
    const future = batch.wakeAt.filter((at) => at >= now);
    if (future.length) hooks.emit('timer:armed', { at: new Date(Math.min(...future)) });
    for (const r of batch.startedRuns) hooks.emit('run:started', { tenantId: r.tenantId, runId: r.id, workflow: r.workflowName, traceparent: r.traceparent });
    for (const { task: t, workerId } of batch.claims) {
      const run = batch.runs.get(t.runId);
      hooks.emit('task:claimed', {
        tenantId: t.tenantId,
        runId: t.runId,
        taskId: t.id,
        key: t.key,
        attempt: t.attempt,
        workflow: run?.workflowName ?? '',
        queue: t.queue,
        workerId,
        waitedMs: t.queuedAt ? now - t.queuedAt.getTime() : null,
        traceparent: run?.traceparent ?? null,
      });
    }
    for (const { run, task: t } of batch.finishedTasks) {
      hooks.emit('task:finished', {
        tenantId: run.tenantId,
        runId: run.id,
        taskId: t.id,
        key: t.key,
        attempt: t.attempt,
        workflow: run.workflowName,
        status: t.status,
        error: t.error,
        traceparent: run.traceparent,
      });
    }
    for (const a of batch.attemptsEnded) hooks.emit('attempt:ended', { taskId: a.taskId, fence: a.fence, outcome: a.outcome, cause: attemptCause(a.outcome) });
    for (const f of batch.finishedRuns) {
      hooks.emit('run:finished', {
        tenantId: f.tenantId,
        runId: f.id,
        workflow: f.workflowName,
        status: f.status,
        error: f.error,
        durationMs: f.finishedAt ? f.finishedAt.getTime() - f.createdAt.getTime() : null,
        traceparent: f.traceparent,
      });
    }
  }
}
