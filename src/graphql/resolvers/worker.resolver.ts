import { Args, Ctx, FieldResolver, Mutation, Resolver, Root } from 'type-graphql';
import type { Context } from '../context';
import { ValidationError } from '../../domain/errors';
import { domainErrorOf } from '../errors';
import { MAX_CLAIM } from '../../services/tasks.service';
import { ClaimTasksArgs, CompleteTaskArgs, CompleteTasksArgs, FailTaskArgs, LeaseArgs, RenewLeaseArgs } from '../inputs/args';
import { Task, TaskLease, toTask } from '../types/run.type';
import { TaskOutcome } from '../types/task-outcome.type';

/** The worker protocol: remote workers claim, heartbeat and report over the same API. */
@Resolver(() => TaskLease)
export class WorkerResolver {
  @Mutation(() => [TaskLease], {
    description:
      'Claims up to `max` (1–100, default 1) ready tasks of `queue`, each under a new fencing token and a lease of `leaseMs` ' +
      '(default: the server lease TTL). With `waitMs` (up to 60000) an empty claim waits until a task of the queue becomes ready. ' +
      'An empty list when none is ready. BAD_USER_INPUT for an argument out of its range.',
  })
  async claimTasks(@Args(() => ClaimTasksArgs) { queue, workerId, max, leaseMs, waitMs }: ClaimTasksArgs, @Ctx() ctx: Context): Promise<TaskLease[]> {
    // A long poll waits, mostly: its tenant's other requests need not wait for it (BusyShares).
    if (waitMs) ctx.leaveShare?.();
    const leases = await ctx.services.tasks.claim(ctx.tenantId, { queue, workerId, max, leaseMs, waitMs }, ctx.signal);
    // A response that never reaches the worker (its connection closed before it was sent) gives
    // the tasks back at once rather than leaving them to the lease TTL.
    if (leases.length > 0) ctx.undelivered?.(() => void ctx.services.tasks.giveBack(ctx.tenantId, workerId, leases).catch(() => undefined));
    return leases.map((l) => ({ taskId: l.task.id, leaseToken: l.leaseToken, leaseExpiresAt: l.leaseExpiresAt, taskRow: l.task }));
  }

  @Mutation(() => TaskLease, {
    description:
      'Extends a lease (a heartbeat). LEASE_LOST when another attempt holds the task (stop working on it); RUN_CANCELLED when its run was cancelled; ' +
      'BAD_USER_INPUT for a leaseToken this API did not issue or a leaseMs out of range; NOT_FOUND for a taskId that is not a task id.',
  })
  async renewLease(@Args(() => RenewLeaseArgs) { taskId, leaseToken, leaseMs }: RenewLeaseArgs, @Ctx() ctx: Context): Promise<TaskLease> {
    return ctx.services.tasks.renew(ctx.tenantId, taskId, leaseToken, leaseMs);
  }

  @Mutation(() => Task, {
    description:
      'Records the result of the attempt holding `leaseToken`: the task SUCCEEDED with `output`. Idempotent for the current token; ' +
      "LEASE_LOST for a stale one (or another tenant's task); RUN_CANCELLED when its run was cancelled; " +
      'BAD_USER_INPUT for a leaseToken this API did not issue or an output Postgres cannot store; NOT_FOUND for a taskId that is not a task id; ' +
      'LIMIT_EXCEEDED for an output over MAX_OUTPUT_BYTES or deeper than MAX_JSON_DEPTH, which also fails the attempt without retry (OUTPUT_TOO_LARGE).',
  })
  async completeTask(@Args(() => CompleteTaskArgs) { taskId, leaseToken, output }: CompleteTaskArgs, @Ctx() ctx: Context): Promise<Task> {
    return toTask(await ctx.services.tasks.complete(ctx.tenantId, taskId, leaseToken, output ?? null));
  }

  @Mutation(() => [TaskOutcome], {
    description:
      'Records up to 100 results in one request (a worker reporting what finished together); they commit together. ' +
      'Each answers on its own, in order: the task, or the error `completeTask` would have raised (a stale token does not fail the others). ' +
      'BAD_USER_INPUT for no results or more than 100.',
  })
  async completeTasks(@Args(() => CompleteTasksArgs) { results }: CompleteTasksArgs, @Ctx() ctx: Context): Promise<TaskOutcome[]> {
    if (results.length === 0 || results.length > MAX_CLAIM) {
      throw new ValidationError(`results must hold 1 to ${MAX_CLAIM} results (got ${results.length}); split larger batches`, { field: 'results' });
    }
    const settled = await Promise.allSettled(results.map((r) => ctx.services.tasks.complete(ctx.tenantId, r.taskId, r.leaseToken, r.output ?? null)));
    return settled.map((s, i) => {
      const taskId = results[i]!.taskId;
      if (s.status === 'fulfilled') return { taskId, task: toTask(s.value), error: null };
      // A fault of ours (a bug, or the database down: UNAVAILABLE) fails the request: the worker
      // retries the batch.
      const domain = domainErrorOf(s.reason);
      if (!domain || domain.code === 'UNAVAILABLE') throw s.reason;
      return { taskId, task: null, error: { code: domain.code, message: domain.message } };
    });
  }

  @Mutation(() => Task, {
    description:
      'Records a failed attempt; retried by the step policy (QUEUED again after its delay) unless `retryable` is false. ' +
      'LEASE_LOST, RUN_CANCELLED, BAD_USER_INPUT and NOT_FOUND as for completeTask; BAD_USER_INPUT for an empty error too.',
  })
  async failTask(@Args(() => FailTaskArgs) { taskId, leaseToken, error, retryable }: FailTaskArgs, @Ctx() ctx: Context): Promise<Task> {
    return toTask(await ctx.services.tasks.fail(ctx.tenantId, taskId, leaseToken, error, retryable ?? true));
  }

  @Mutation(() => Task, {
    description:
      'Gives the task back unfinished (a draining worker): QUEUED again at once, the attempt not counted. ' +
      'LEASE_LOST, RUN_CANCELLED, BAD_USER_INPUT and NOT_FOUND as for completeTask.',
  })
  async releaseTask(@Args(() => LeaseArgs) { taskId, leaseToken }: LeaseArgs, @Ctx() ctx: Context): Promise<Task> {
    return toTask(await ctx.services.tasks.release(ctx.tenantId, taskId, leaseToken));
  }

  @FieldResolver(() => Task, { description: 'The claimed task, its input resolved.' })
  async task(@Root() lease: TaskLease, @Ctx() ctx: Context): Promise<Task> {
    const row = lease.taskRow ?? (await ctx.loaders.taskById.load(lease.taskId));
    if (!row) throw new Error(`task ${lease.taskId} is missing`);
    return toTask(row);
  }
}
