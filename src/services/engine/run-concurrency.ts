import { concurrencyKeyOf, decideAdmission, type AdmissionDecision } from '../../domain/concurrency';
import { decideCancel } from '../../domain/decisions';
import { isTerminalRun, type RunState } from '../../domain/run-machine';
import type { RunRecord } from '../../domain/model';
import { groupKeyOf, groupStates, groupsOfRuns, groupsWaiting, lockGroups, lockRunsById, markAdmitted, requeueRun } from '../../store/concurrency.store';
import { lockRun } from '../../store/runs.store';
import type { Database } from '../../store/sql';
import { tasksOfLockedRun, tasksOfLockedRuns } from '../../store/tasks.store';
import { NotFoundError } from '../../domain/errors';
import type { WorkflowsService } from '../workflows.service';
import type { Batch } from './batch';
import type { Loader, TransitionKernel } from './kernel';
import { withDefinitions } from './loaders';

/**
 * A group row whose run was never inserted (the start died between the two statements, or lost
 * an idempotency race) is deleted this long after it was written: far past any start's insert.
 */
const ORPHAN_AFTER_MS = 60_000;

/** Groups one admission transaction looks at, at most (their runs' rows are locked together). */
const ADMIT_BATCH = 100;

interface Group {
  tenantId: string;
  groupKey: string;
}

/**
 * Admissions of concurrency groups: each is one transition under the group's row lock (taken
 * first, then the runs it admits or cancels, in id order; no transition takes a group lock while
 * holding a run, so the order cannot deadlock). It counts the group's runs in flight, decides by
 * the strategy (src/domain/concurrency.ts), marks the admitted ones and promotes their roots, and
 * cancels those the strategy cancels, all in one commit.
 *
 * Exactly once and crash-safe as child runs are: the facts are durable (waiting rows; runs that
 * ended), so the admission right after a start or a run's end is only the fast path, and the sweep
 * (every timer pass) admits what a crash or a failed follow-up left waiting.
 */
export class RunConcurrency {
  constructor(
    private readonly deps: {
      db: Database;
      workflows: WorkflowsService;
      kernel: TransitionKernel;
      onError: (e: unknown) => void;
    },
  ) {}

  /** Looks at one group under its lock: admits, waits or cancels by its strategy. How many runs it admitted and cancelled. */
  admit(tenantId: string, groupKey: string): Promise<{ admitted: number; cancelled: number }> {
    return this.admitGroups([{ tenantId, groupKey }]);
  }

  /**
   * Looks at several groups in one transaction (a result batch that ended runs of 64 keys admits
   * their next runs in one commit, not 64): their locks in key order, one read of their runs, each
   * decided alone.
   */
  async admitGroups(groups: readonly Group[]): Promise<{ admitted: number; cancelled: number }> {
    if (groups.length === 0) return { admitted: 0, cancelled: 0 };
    let decision: AdmissionDecision = { admit: [], cancel: [] };
    const load: Loader = async (sql, now) => {
      await lockGroups(sql, groups, now);
      decision = { admit: [], cancel: [] };
      for (const g of await groupStates(sql, groups, new Date(now.getTime() - ORPHAN_AFTER_MS))) {
        const d = decideAdmission(g.policy, g.policy.key, g.inFlight, g.waiting);
        decision.admit.push(...d.admit);
        decision.cancel.push(...d.cancel);
      }
      await markAdmitted(sql, decision.admit, now);
      const runs = await lockRunsById(sql, [...decision.admit, ...decision.cancel.map((c) => c.runId)]);
      if (runs.length === 0) return [];
      return withDefinitions(
        sql,
        this.deps.workflows,
        runs,
        await tasksOfLockedRuns(
          sql,
          runs.map((r) => r.id),
        ),
      );
    };
    const { value } = await this.deps.kernel.run(load, (s) => {
      let admitted = 0;
      let cancelled = 0;
      const admit = new Set(decision.admit);
      for (const { run } of s.runs) {
        if (!admit.has(run.id) || isTerminalRun(run.status)) continue;
        s.apply(run.id, { kind: 'promote' });
        admitted++;
      }
      for (const c of decision.cancel) {
        const locked = s.run(c.runId);
        const transition = locked && decideCancel(locked.run, c.reason);
        if (transition) {
          s.apply(c.runId, transition);
          cancelled++;
        }
      }
      return { admitted, cancelled };
    });
    return value;
  }

  /**
   * retryRun of a run with a concurrency key: the run locked, its slot given up (it waits again,
   * so the retry queues nothing) before the retry transition; the caller admits its group after
   * commit. Runs without a key load as `oneRun` does.
   */
  retryLoader(runId: string, tenantId: string, held: { group?: Group }): Loader {
    return async (sql, now) => {
      const run = await lockRun(sql, tenantId, runId);
      if (!run) throw new NotFoundError('Run', runId);
      const [locked] = await withDefinitions(sql, this.deps.workflows, [run], await tasksOfLockedRun(sql, run.id));
      if (!locked) return [];
      const policy = locked.definition.concurrency;
      if (policy && isTerminalRun(run.status)) {
        const key = concurrencyKeyOf(run.workflowName, policy, run.input);
        const group = { tenantId: run.tenantId, groupKey: groupKeyOf(run.workflowName, key) };
        await requeueRun(sql, { runId: run.id, ...group, key, max: policy.max, strategy: policy.strategy, createdAt: now });
        held.group = group;
        (locked.run as RunRecord & RunState).concurrencyHeld = true;
      }
      return [locked];
    };
  }

  /** After a commit: the groups of runs that ended have a free slot, those of child runs just created a new run. Never throws. */
  async afterCommit(batch: Batch): Promise<void> {
    // Child runs just created in their groups (waiting) are admitted as a started run is.
    const created = batch.childRuns.flatMap((c) => (c.concurrency?.run ? [{ tenantId: c.tenantId, groupKey: c.concurrency.run.groupKey }] : []));
    if (batch.finishedRuns.length === 0 && created.length === 0) return;
    try {
      const ended = batch.finishedRuns.length
        ? await groupsOfRuns(
            this.deps.db,
            batch.finishedRuns.map((r) => r.id),
          )
        : [];
      const seen = new Set<string>();
      const groups = [...ended, ...created].filter((g) => {
        const id = `${g.tenantId}\n${g.groupKey}`;
        return seen.has(id) ? false : (seen.add(id), true);
      });
      for (let i = 0; i < groups.length; i += ADMIT_BATCH) await this.admitGroups(groups.slice(i, i + ADMIT_BATCH));
    } catch (e: unknown) {
      // The sweep admits them later.
      this.deps.onError(e);
    }
  }

  /** Groups with waiting runs looked at again: how many runs it admitted or cancelled. */
  async sweep(limit: number): Promise<number> {
    const groups = await groupsWaiting(this.deps.db, limit);
    let moved = 0;
    for (let i = 0; i < groups.length; i += ADMIT_BATCH) {
      const { admitted, cancelled } = await this.admitGroups(groups.slice(i, i + ADMIT_BATCH));
      moved += admitted + cancelled;
    }
    return moved;
  }
}
