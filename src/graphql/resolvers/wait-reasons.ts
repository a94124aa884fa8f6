import type { TaskRecord } from '../../domain/model';
import { waitReasonOf, type WaitReason } from '../../domain/waiting';
import type { Context } from '../context';

/**
 * What each of `tasks` (all of one run) waits for, skipping finished ones. Everything is read
 * through the request's loaders, so a page of runs costs one query per kind of input (runs, tasks,
 * workflows, queue polls) and one lease-store round trip, whatever the page size.
 */
export async function waitReasonsOf(ctx: Context, runId: string, tasks: readonly TaskRecord[]): Promise<WaitReason[]> {
  const [run, siblings] = await Promise.all([ctx.loaders.runById.load(runId), ctx.loaders.tasksByRun.load(runId)]);
  if (!run) return [];
  const [workflow, polls, expiries, held] = await Promise.all([
    ctx.loaders.workflowById.load(run.workflowId),
    Promise.all(tasks.map((t) => (t.status === 'QUEUED' && t.queue !== null ? ctx.loaders.queuePollByQueue.load(t.queue) : undefined))),
    Promise.all(tasks.map((t) => (t.status === 'RUNNING' ? ctx.loaders.leaseExpiryByAttempt.load({ taskId: t.id, fence: t.fence }) : null))),
    run.status === 'PENDING' || run.status === 'RUNNING' ? ctx.loaders.concurrencyWaitByRun.load(run.id) : undefined,
  ]);
  const steps = new Map((workflow?.definition.steps ?? []).map((s) => [s.key, s]));
  // Step tasks only: a forEach step's items share its key, its own task stands for the step.
  const statusByKey = new Map(siblings.filter((t) => t.parentTaskId === null).map((t) => [t.key, t.status]));
  const now = ctx.services.waits.now();
  const noWorkerAfterMs = ctx.services.waits.noWorkerAfterMs;
  return tasks.flatMap((task, i) => {
    const reason = waitReasonOf({
      task,
      runStatus: run.status,
      runPausedAt: run.pausedAt,
      dependsOn: steps.get(task.key)?.dependsOn ?? [],
      maxConcurrency: steps.get(task.key)?.maxConcurrency ?? null,
      runConcurrency: held,
      statusByKey,
      poll: polls[i],
      leaseExpiresAt: expiries[i] ?? null,
      now,
      noWorkerAfterMs,
    });
    return reason ? [reason] : [];
  });
}
