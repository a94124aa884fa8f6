import type { RunEvent, RunRecord, TaskRecord } from '../../domain/model';
import type { ReadyBuiltIn } from '../../events/event-bus';
import { positioned } from '../../store/runs.store';
import { newBatch, type Batch } from './batch';
import type { EagerDispatch } from './eager-dispatch';
import { newSecret, type TransitionKernel } from './kernel';
import { claimAtStart, type StartClaimed } from '../../domain/start-claim';
import type { WorkflowDefinition } from '../../domain/glossary';
import type { InitialTask, RunState } from '../../domain/run-machine';

/** Executor slots a start reserved for its run's roots (eager start), before its insert. */
export interface StartReservation {
  /** The start's announcement, holding the reservation. */
  readonly batch: Batch;
  /** The roots to claim in the insert. */
  readonly taskIds: readonly string[];
  /** Who holds them: this replica's executors. */
  readonly workerId: string;
}

/**
 * The engine's part in a start, which is one insert outside its transactions (RunsService.start):
 * before the insert, slots for an eager start (the run's plain ready built-in roots claimed in the
 * insert itself, decided by the state machine: src/domain/start-claim.ts); after it, the
 * announcement, which also grants the claimed roots' leases and hands them to the executors, as a
 * transition's eager claims are.
 */
export class Starts {
  constructor(private readonly deps: { kernel: TransitionKernel; eager: EagerDispatch | null; onPublishError: (e: unknown) => void }) {}

  /**
   * Slots for the run's plain ready built-in roots, as far as the tenant's share and the free
   * slots allow; null when none is given (no executors here, none free, the tenant at its share):
   * its roots then wait QUEUED for a claim, as without eager start.
   */
  reserve(tenantId: string, roots: readonly { id: string; type: string }[], now: Date): StartReservation | null {
    const { eager } = this.deps;
    if (!eager || roots.length === 0) return null;
    const batch = newBatch(now);
    const taskIds = eager.reserveRoots(batch, tenantId, roots);
    if (taskIds.length > 0) return { batch, taskIds, workerId: eager.workerId };
    eager.giveBack(batch);
    return null;
  }

  /**
   * The reserved roots claimed in memory by the state machine, for the insert to write; null (the
   * slots given back) if the machine refuses, which a new run's QUEUED roots never give it cause
   * to: an optimisation never fails a start.
   */
  claim(
    reservation: StartReservation,
    definition: WorkflowDefinition,
    run: Pick<RunState, 'id' | 'input' | 'deadlineAt'>,
    planned: readonly InitialTask[],
    now: Date,
  ): StartClaimed | null {
    try {
      return claimAtStart({ definition, now, newSecret }, run, planned, reservation);
    } catch (e: unknown) {
      this.release(reservation);
      this.deps.onPublishError(new Error(`eager start declined (the run's roots wait QUEUED): ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
      return null;
    }
  }

  /** The insert did not happen (it failed, or another start won): the slots go back. */
  release(reservation: StartReservation | null): void {
    if (reservation) this.deps.eager?.giveBack(reservation.batch);
  }

  /**
   * After the insert: the run created, its events published, its ready roots signalled (only those
   * not claimed in the insert), the claimed ones' leases granted and handed to the executors.
   * Never rejects (a start may answer without waiting for it): a fault is reported.
   */
  async announce(
    run: RunRecord,
    events: readonly RunEvent[],
    readyQueues: readonly (string | null)[],
    opts: { startsChildren?: boolean; readyBuiltIn?: ReadyBuiltIn[]; claimed?: { reservation: StartReservation; claim: StartClaimed } } = {},
  ): Promise<void> {
    const { claimed } = opts;
    const batch = claimed?.reservation.batch ?? newBatch(run.createdAt);
    batch.createdRuns.push(run);
    batch.runs.set(run.id, run);
    // Its ready `workflow` steps start their children in the run's first transition.
    if (opts.startsChildren) batch.launch.push(run.id);
    batch.events.push(...events);
    batch.ready.push(...readyQueues);
    batch.readyBuiltIn = opts.readyBuiltIn;
    if (run.deadlineAt) batch.wakeAt.push(run.deadlineAt.getTime());
    if (claimed && this.deps.eager) {
      if (run.status === 'RUNNING') batch.startedRuns.push(run);
      const { reservation, claim } = claimed;
      const taskIds = new Set(reservation.taskIds);
      for (const t of positioned(claim.tasks)) {
        if (!taskIds.has(t.id)) continue;
        // The claimed task as the insert wrote it.
        const task: TaskRecord = { ...t, tenantId: run.tenantId, runId: run.id, createdAt: run.createdAt, rateLimitedUntil: null };
        batch.claims.push({ task, workerId: reservation.workerId, eager: true, leaseMs: this.deps.eager.leaseMs });
        if (task.deadlineAt) batch.wakeAt.push(task.deadlineAt.getTime());
      }
    }
    await this.deps.kernel.announce(batch).catch(this.deps.onPublishError);
  }
}
