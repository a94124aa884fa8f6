/**
 * How transitions find and lock their runs. Every loader locks run rows (a run's transitions are
 * serial) and returns them with their tasks and definitions; none waits on another's locks in a
 * way that could deadlock (runs are locked in id order; the claim skips locked rows).
 */
import { NotFoundError } from '../../domain/errors';
import type { RunRecord, TaskRecord } from '../../domain/model';
import { findRunsByIds, lockRun, lockRunsOfTasks, lockUnfinishedRunsMatching, type RunListFilter } from '../../store/runs.store';
import type { Sql } from '../../store/sql';
import type { ShareBudgets } from '../../primitives/tenant-shares';
import { claimReadyBuiltIn, claimReadyTasks, tasksOfLockedRun, tasksOfLockedRuns } from '../../store/tasks.store';
import type { WorkflowsService } from '../workflows.service';
import type { Loader, LockedRun } from './kernel';

async function withDefinitions(sql: Sql, workflows: WorkflowsService, runs: readonly RunRecord[], tasks: readonly TaskRecord[]): Promise<LockedRun[]> {
  const definitions = await workflows.definitions([...new Set(runs.map((r) => r.workflowId))], sql);
  const byRun = new Map<string, TaskRecord[]>(runs.map((r) => [r.id, []]));
  for (const t of tasks) byRun.get(t.runId)?.push(t);
  // A run whose definition is gone (it cannot be: versions are never deleted) is left out, unchanged.
  return runs.flatMap((run) => {
    const definition = definitions.get(run.workflowId);
    return definition ? [{ run, tasks: byRun.get(run.id)!, definition }] : [];
  });
}

/** The runs of these tasks, locked in id order, with all their tasks. */
export function runsOfTasks(workflows: WorkflowsService, taskIds: readonly string[]): Loader {
  return async (sql) => {
    const runs = await lockRunsOfTasks(sql, taskIds);
    if (runs.length === 0) return [];
    return withDefinitions(
      sql,
      workflows,
      runs,
      await tasksOfLockedRuns(
        sql,
        runs.map((r) => r.id),
      ),
    );
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
    return withDefinitions(
      sql,
      workflows,
      runs,
      await tasksOfLockedRuns(
        sql,
        runs.map((r) => r.id),
      ),
    );
  };
}

/**
 * Ready tasks of a queue claimed by the claim statement (their runs locked with them, SKIP
 * LOCKED): each run comes with the tasks claimed from it only — the claim needs no other.
 */
export function claimed(
  workflows: WorkflowsService,
  opts: { tenantId: string | null; queue: string | null; limit: number; workerId: string; budgets?: ShareBudgets; notReclaimedSince?: Date | null },
): Loader {
  return async (sql, now) => {
    const { budgets } = opts;
    const tasks =
      opts.queue === null && opts.tenantId === null && budgets
        ? await claimReadyBuiltIn(sql, { limit: opts.limit, workerId: opts.workerId, now, budgets })
        : await claimReadyTasks(sql, { ...opts, now });
    if (tasks.length === 0) return [];
    const runs = await findRunsByIds(sql, null, [...new Set(tasks.map((t) => t.runId))]);
    return withDefinitions(sql, workflows, runs, tasks);
  };
}
