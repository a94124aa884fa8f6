import type { Clock } from '../../domain/clock';
import type { EngineHooks } from '../../domain/hooks';
import type { RunRecord } from '../../domain/model';
import { decideAttemptTimedOut, decideRunDeadline, decideTimerFired } from '../../domain/decisions';
import { NotFoundError } from '../../domain/errors';
import type { EventBus } from '../../events/event-bus';
import type { LeaseStore } from '../../leases/lease-store';
import { dueRunDeadlines, strandedPendingRuns } from '../../store/runs.store';
import type { Database } from '../../store/sql';
import { dueDeadlines, dueTimers, nextWakeAt, queuesAvailableBetween, setTaskTimer } from '../../store/tasks.store';
import type { WorkflowsService } from '../workflows.service';
import type { Loader, Staging, TransitionKernel } from './kernel';
import { oneRun, runsOfTasks } from './loaders';

/** How old a PENDING run with nothing moved must be before the sweep promotes it (see fireDue). */
const STRANDED_AFTER_MS = 10_000;
/**
 * The stranded-run look runs at most this often: it reads every PENDING run older than
 * STRANDED_AFTER_MS (each with a QUEUED task but the stranded ones), so with a tenant's 3,000 runs
 * queued behind its share it took up to 0.9 s, and timer passes run every second and on every
 * wake-up. A crash's leftovers wait a few seconds more.
 */
const STRANDED_SCAN_INTERVAL_MS = 5_000;

export interface TimersDeps {
  db: Database;
  workflows: WorkflowsService;
  bus: EventBus;
  leases: LeaseStore;
  clock: Clock;
  hooks: EngineHooks;
  kernel: TransitionKernel;
  onPublishError: (e: unknown) => void;
}

/**
 * Everything time-driven, durable in Postgres: sleeps parked on a timer, attempt and run
 * deadlines, tasks whose retry delay ends. Nothing here holds a slot or a process timer that a
 * restart would lose; the scheduler only decides when to look (`nextWakeAt`).
 */
export class Timers {
  private lastAvailabilityScan: Date;
  private lastStrandedScan = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: TimersDeps) {
    this.lastAvailabilityScan = deps.clock.now();
  }

  /**
   * Parks a running attempt on a durable timer: one guarded UPDATE, no transition (the task stays
   * RUNNING, no event); false when the attempt is no longer held.
   */
  async park(taskId: string, fence: string, tenantId: string, at: Date): Promise<boolean> {
    const ok = await setTaskTimer(this.deps.db, taskId, fence, at);
    // Parked in Postgres, held by no one: no lease to renew while it sleeps.
    if (!ok) return false;
    await this.deps.leases.release([{ taskId, fence, tenantId }]).catch(this.deps.onPublishError);
    this.deps.hooks.emit('timer:parked', { taskId, at });
    return true;
  }

  /**
   * One pass: due timers, attempt and run deadlines (each its own transition, so one bad item
   * cannot hold up the others), and queues whose delayed tasks became available. Replicas racing
   * on one item apply it once.
   */
  async fireDue(limit: number): Promise<number> {
    const { db, workflows, clock } = this.deps;
    const now = clock.now();
    let fired = 0;
    for (const timer of await dueTimers(db, now, limit)) {
      fired += await this.quietly(runsOfTasks(workflows, [timer.id], { full: false }), (s) =>
        s.applyToTask(timer.id, (task) => decideTimerFired(task, timer.fence)),
      );
    }
    for (const d of await dueDeadlines(db, now, limit)) {
      fired += await this.quietly(runsOfTasks(workflows, [d.id]), (s) => s.applyToTask(d.id, (task) => decideAttemptTimedOut(task, d.fence)));
    }
    for (const r of await dueRunDeadlines(db, now, limit)) {
      fired += await this.quietly(oneRun(workflows, r.id, null), (s) => {
        const [locked] = s.runs;
        const transition = locked && decideRunDeadline(locked.run, now);
        if (transition) s.apply(locked.run.id, transition);
        return Boolean(transition);
      });
    }
    // A start promotes its conditional roots right after its insert; a replica that died in
    // between left the run PENDING with nothing queued. 10 s: far past a normal start's promote.
    let stranded: Pick<RunRecord, 'id'>[] = [];
    // A clock stepped back (NTP) scans at once rather than waiting for the old mark.
    const sinceScan = now.getTime() - this.lastStrandedScan;
    if (sinceScan >= STRANDED_SCAN_INTERVAL_MS || sinceScan < 0) {
      stranded = await strandedPendingRuns(db, new Date(now.getTime() - STRANDED_AFTER_MS), limit);
      // A full batch: look again at the next pass.
      if (stranded.length < limit) this.lastStrandedScan = now.getTime();
    }
    for (const r of stranded) {
      fired += await this.quietly(oneRun(workflows, r.id, null), (s) => {
        const [locked] = s.runs;
        if (!locked || locked.run.status !== 'PENDING') return false;
        return s.apply(locked.run.id, { kind: 'promote' }).run.status !== 'PENDING' || s.changed(locked.run.id);
      });
    }
    const queues = await queuesAvailableBetween(db, this.lastAvailabilityScan, now);
    this.lastAvailabilityScan = now;
    if (queues.length) await this.deps.bus.signalReady(queues).catch(this.deps.onPublishError);
    return fired;
  }

  async nextWakeAt(): Promise<Date | null> {
    // Delayed tasks count from the last availability scan, not from now: one that came due
    // between the scan and this query (a timer firing a millisecond early) is still ahead.
    return nextWakeAt(this.deps.db, this.lastAvailabilityScan);
  }

  /** A transition whose run vanished meanwhile is nothing to do. */
  private async quietly(load: Loader, decide: (s: Staging) => boolean): Promise<number> {
    try {
      return (await this.deps.kernel.run(load, decide)).value ? 1 : 0;
    } catch (e: unknown) {
      if (e instanceof NotFoundError) return 0;
      throw e;
    }
  }
}
