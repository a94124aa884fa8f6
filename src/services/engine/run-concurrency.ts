import { concurrencyKeyOf, decideAdmission, type AdmissionDecision } from '../../domain/concurrency';
import { decideCancel } from '../../domain/decisions';
import { isTerminalRun, type RunState } from '../../domain/run-machine';
import type { RunRecord } from '../../domain/model';
import {
  groupKeyOf,
  groupStates,
  groupsOfRuns,
  groupsWaiting,
  lockGroups,
  lockGroupsOfRunsNowait,
  lockRunsById,
  lockRunsNowait,
  markAdmitted,
  requeueRun,
} from '../../store/concurrency.store';
import { ChildLookupsNeeded } from '../../domain/child-runs';
import { lockRun } from '../../store/runs.store';
import type { Database, Sql } from '../../store/sql';
import { tasksOfLockedRun } from '../../store/tasks.store';
import { NotFoundError } from '../../domain/errors';
import type { WorkflowsService } from '../workflows.service';
import type { Batch } from './batch';
import type { Loader, Staging, TransitionKernel } from './kernel';
import { withAllTasks, withDefinitions } from './loaders';

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

const groupId = (g: Group): string => `${g.tenantId}\n${g.groupKey}`;

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
      return withAllTasks(sql, this.deps.workflows, runs);
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

  /**
   * In the transaction that ends runs of QUEUE or ROUND_ROBIN groups, under those groups' locks:
   * their next waiting runs are admitted and promoted with the batch (one commit, and their first
   * tasks can be claimed eagerly in it), instead of in a transaction of their own after it. Never
   * waits for a lock (a group or run another transaction holds is left to `afterCommit`, which
   * skips the groups done here); a group whose admission needs more (a root `workflow` step's
   * child run) is left to it too.
   */
  async admitInline(sql: Sql, s: Staging, b: Batch): Promise<void> {
    const ended = b.finishedRuns.filter((r) => s.run(r.id)?.definition.concurrency);
    if (ended.length === 0) return;
    const groups = await lockGroupsOfRunsNowait(
      sql,
      ended.map((r) => r.id),
    );
    if (groups.length === 0) return;
    const finished = new Set(b.finishedRuns.map((r) => r.id));
    const groupOf = new Map<string, string>();
    const done = new Set(groups.map(groupId));
    for (const g of await groupStates(sql, groups, new Date(b.now.getTime() - ORPHAN_AFTER_MS))) {
      const id = groupId(g);
      if (g.policy.strategy !== 'QUEUE' && g.policy.strategy !== 'ROUND_ROBIN') {
        done.delete(id);
        continue;
      }
      // The runs this batch ended still read as in flight (the batch is not written yet).
      const inFlight = g.inFlight.filter((m) => !finished.has(m.runId));
      const waiting = g.waiting.filter((m) => !finished.has(m.runId));
      for (const runId of decideAdmission(g.policy, g.policy.key, inFlight, waiting).admit) groupOf.set(runId, id);
    }
    if (groupOf.size > 0) {
      const toLoad = [...groupOf.keys()].filter((id) => !s.run(id));
      const runs = await lockRunsNowait(sql, toLoad);
      const got = new Set(runs.map((r) => r.id));
      // A run another transaction holds: its group is admitted after commit instead, whole.
      for (const id of toLoad) if (!got.has(id)) done.delete(groupOf.get(id)!);
      if (runs.length > 0) {
        s.adopt(await withAllTasks(sql, this.deps.workflows, runs));
      }
      const admitted: string[] = [];
      for (const [runId, group] of groupOf) {
        const locked = s.run(runId);
        if (!done.has(group) || !locked || isTerminalRun(locked.run.status)) continue;
        (locked.run as RunRecord & RunState).concurrencyHeld = false;
        try {
          s.apply(runId, { kind: 'promote' });
          admitted.push(runId);
        } catch (e: unknown) {
          // Never fails the transition that ended the holder: the state machine decided nothing
          // for this run (it stages after deciding), and the admission after commit retries it.
          if (!(e instanceof ChildLookupsNeeded)) this.deps.onError(e);
          done.delete(group);
        }
      }
      await markAdmitted(sql, admitted, b.now);
    }
    for (const id of done) b.groupsAdmitted.add(id);
  }

  /** After a commit: the groups of runs that ended have a free slot, those of child runs just created a new run. Never throws. */
  async afterCommit(batch: Batch): Promise<void> {
    // Child runs just created in their groups (waiting) are admitted as a started run is.
    const created = batch.childRuns.flatMap((c) => (c.concurrency?.run ? [{ tenantId: c.tenantId, groupKey: c.concurrency.run.groupKey }] : []));
    // A run whose workflow has no `concurrency` holds no group's slot: no lookup for it.
    if (batch.finishedRunsInGroups.length === 0 && created.length === 0) return;
    try {
      const ended = batch.finishedRunsInGroups.length ? await groupsOfRuns(this.deps.db, batch.finishedRunsInGroups) : [];
      const seen = new Set<string>();
      // Groups admitted in the ending transaction already (admitInline) are done.
      const groups = [...ended.filter((g) => !batch.groupsAdmitted.has(groupId(g))), ...created].filter((g) => {
        const id = groupId(g);
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
