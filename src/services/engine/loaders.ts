/**
 * How transitions find and lock their runs. Every loader locks run rows (a run's transitions are
 * serial) and returns them with their tasks and definitions; none waits on another's locks in a
 * way that could deadlock (runs are locked in id order; the claim skips locked rows).
 */
import { NotFoundError } from '../../domain/errors';
import type { RunRecord, TaskRecord } from '../../domain/model';
import { findRunsByIds, lockRun, lockRunsOfTasks, lockUnfinishedRunsMatching, type RunListFilter } from '../../store/runs.store';
import { admitRateLimited, settleRateLimits, type RateLimitedTasksHint } from '../../store/rate-limits.store';
import type { Sql } from '../../store/sql';
import { claimLimitOf, gatesOf, stampServed, type GatedTasksHint } from '../../store/concurrency.store';
import type { ShareBudgets } from '../../primitives/tenant-shares';
import {
  claimReadyBuiltIn,
  claimReadyTasks,
  itemsOfFans,
  nextPendingItems,
  lockRunsWithStepTasks,
  tasksOfLockedRun,
  tasksOfLockedRuns,
} from '../../store/tasks.store';
import type { WorkflowsService } from '../workflows.service';
import type { Loader, LockedRun } from './kernel';

export async function withDefinitions(sql: Sql, workflows: WorkflowsService, runs: readonly RunRecord[], tasks: readonly TaskRecord[]): Promise<LockedRun[]> {
  const definitions = await workflows.definitions([...new Set(runs.map((r) => r.workflowId))], sql);
  const byRun = new Map<string, TaskRecord[]>(runs.map((r) => [r.id, []]));
  for (const t of tasks) byRun.get(t.runId)?.push(t);
  // A run whose definition is gone (it cannot be: versions are never deleted) is left out, unchanged.
  return runs.flatMap((run) => {
    const definition = definitions.get(run.workflowId);
    return definition ? [{ run, tasks: byRun.get(run.id)!, definition }] : [];
  });
}

/** Locked runs with all their tasks and their definitions. */
export async function withAllTasks(sql: Sql, workflows: WorkflowsService, runs: readonly RunRecord[]): Promise<LockedRun[]> {
  return withDefinitions(
    sql,
    workflows,
    runs,
    await tasksOfLockedRuns(
      sql,
      runs.map((r) => r.id),
    ),
  );
}

/**
 * The runs of these tasks, locked in id order, with the tasks a result for `taskIds` may change.
 *
 * `full`: all their tasks — a failure may fail the run and cancel every unfinished task. Else
 * the step tasks and the named ones, and of each fan task with a named item what ending those
 * items can touch: every item when they may be its last (fan-in reads all outputs), else as many
 * next PENDING items as slots they free. One item of 10,000 ending reads ~the run's steps and two
 * items, not 10,000 rows.
 */
export function runsOfTasks(workflows: WorkflowsService, taskIds: readonly string[], opts: { full?: boolean } = {}): Loader {
  return async (sql) => {
    if (opts.full !== false) {
      const runs = await lockRunsOfTasks(sql, taskIds);
      return runs.length === 0 ? [] : withAllTasks(sql, workflows, runs);
    }
    const { runs, tasks } = await lockRunsWithStepTasks(sql, taskIds);
    if (runs.length === 0) return [];
    const named = new Map<string, number>();
    for (const t of tasks) if (t.parentTaskId !== null) named.set(t.parentTaskId, (named.get(t.parentTaskId) ?? 0) + 1);
    const whole: string[] = [];
    for (const fan of tasks) {
      const ending = named.get(fan.id);
      if (!ending || fan.status !== 'RUNNING' || fan.itemsLeft === null) continue;
      if (fan.itemsLeft <= ending) {
        whole.push(fan.id);
        continue;
      }
      const pending = fan.itemsLeft - (fan.itemsActive ?? 0);
      if (pending > 0) tasks.push(...(await nextPendingItems(sql, fan.id, Math.min(ending, pending))));
    }
    if (whole.length > 0) {
      const loaded = new Set(tasks.map((t) => t.id));
      for (const item of await itemsOfFans(sql, whole)) if (!loaded.has(item.id)) tasks.push(item);
    }
    return withDefinitions(sql, workflows, runs, tasks);
  };
}

/** One run of a tenant (null: any tenant, for the engine's own timers), locked; NOT_FOUND otherwise. */
export function oneRun(workflows: WorkflowsService, runId: string, tenantId: string | null): Loader {
  return async (sql) => {
    const run = await lockRun(sql, tenantId ?? '', runId, tenantId === null);
    if (!run) throw new NotFoundError('Run', runId);
    return withDefinitions(sql, workflows, [run], await tasksOfLockedRun(sql, run.id));
  };
}

/** Up to `limit` unfinished runs of a tenant matching a filter, locked in id order, with all their tasks. */
export function unfinishedRunsMatching(workflows: WorkflowsService, tenantId: string, filter: RunListFilter, limit: number): Loader {
  return async (sql) => {
    const runs = await lockUnfinishedRunsMatching(sql, tenantId, filter, limit);
    if (runs.length === 0) return [];
    return withAllTasks(sql, workflows, runs);
  };
}

/**
 * Ready tasks of a queue claimed by the claim statement (their runs locked with them, SKIP
 * LOCKED): each run comes with the tasks claimed from it only — the claim needs no other.
 */
export function claimed(
  workflows: WorkflowsService,
  opts: {
    tenantId: string | null;
    queue: string | null;
    limit: number;
    workerId: string;
    budgets?: ShareBudgets;
    notReclaimedSince?: Date | null;
    /** PRIORITY_AGING_MS. */
    priorityAgingMs: number;
    /** Whether gated tasks exist at all (skips `stepGateOf` while none do). @default always look */
    gated?: GatedTasksHint;
    /** Whether ready rate-limited tasks may exist (skips `admitRateLimited` while none do). @default always look */
    rateLimited?: RateLimitedTasksHint;
  },
): Loader {
  return async (sql, now) => {
    const { budgets, priorityAgingMs } = opts;
    // A limited queue (setQueueLimit): its row locked, its RUNNING tasks counted, the claim takes at most the rest.
    const limit = await claimLimitOf(sql, opts.tenantId, opts.queue, opts.limit);
    if (limit <= 0) return [];
    // Steps with `concurrency`: their groups locked, the tasks each may still start picked.
    const gated = (await opts.gated?.any(sql, now)) !== false;
    const allowed = gated ? await gatesOf(sql, { tenantId: opts.tenantId, queue: opts.queue, now, limit }) : [];
    // ROUND_ROBIN runs' tasks come from `allowed` only, once any are known (no hint: always).
    const roundRobin = gated && (opts.gated?.roundRobin ?? true);
    // Rate limits: admit, claim, charge — all in this transaction (src/store/rate-limits.store.ts).
    const { admitted, buckets } =
      (await opts.rateLimited?.any(sql, now)) === false
        ? { admitted: [], buckets: [] }
        : await admitRateLimited(sql, { queue: opts.queue, tenantId: opts.tenantId, now, limit, priorityAgingMs, allowed, roundRobin });
    // The built-in claim returns the claimed tasks' runs with them (one statement fewer).
    const { tasks, runs: claimedRuns } =
      opts.queue === null && opts.tenantId === null && budgets
        ? await claimReadyBuiltIn(sql, { limit, workerId: opts.workerId, now, budgets, priorityAgingMs, admitted, allowed, roundRobin })
        : { tasks: await claimReadyTasks(sql, { ...opts, limit, now, admitted, allowed, roundRobin }), runs: null };
    await settleRateLimits(sql, buckets, tasks, now);
    // ROUND_ROBIN: the groups served now go to the back of the turn order.
    if (allowed.length > 0) {
      const served = new Set(allowed);
      await stampServed(
        sql,
        tasks.filter((t) => served.has(t.id)).map((t) => t.id),
      );
    }
    if (tasks.length === 0) return [];
    const runs = claimedRuns ?? (await findRunsByIds(sql, null, [...new Set(tasks.map((t) => t.runId))]));
    return withDefinitions(sql, workflows, runs, tasks);
  };
}
