import DataLoader from 'dataloader';
import type { ScheduleFireRecord } from '../../domain/schedules';
import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { Context } from '../context';
import { PageArgs } from '../inputs/args';
import { ScheduleInput, ScheduleUpdateInput } from '../inputs/schedule.input';
import { DateTimeScalar } from '../scalars';
import { toConnection } from '../types/common.type';
import { Run, toRun } from '../types/run.type';
import { Schedule, ScheduleBackfill, ScheduleConnection, ScheduleFire, toSchedule, toScheduleFire } from '../types/schedule.type';

const SCHEDULE_ID = 'The schedule id (createSchedule answers it).';
const CHECKS =
  'BAD_USER_INPUT (extensions.reason INVALID_CRON or INVALID_TIMEZONE, or field) for a cron expression that is not five or six valid fields, ' +
  'a time zone that is not IANA, startAt not before endAt, a catchupWindowMs out of range, or an input the workflow inputSchema refuses; ' +
  'NOT_FOUND when the tenant has no such workflow (or version); LIMIT_EXCEEDED for an input over MAX_INPUT_BYTES';

/**
 * Recent fires of the schedules of one request, batched: a page of schedules asking the same
 * `first` is one query. Per request (the context), so nothing is cached past it.
 */
const fireLoaders = new WeakMap<Context, DataLoader<{ scheduleId: string; first: number }, ScheduleFireRecord[], string>>();
function firesOf(ctx: Context, scheduleId: string, first: number): Promise<ScheduleFireRecord[]> {
  let loader = fireLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(
      async (keys) => {
        const byFirst = new Map<number, Map<string, ScheduleFireRecord[]>>();
        for (const n of new Set(keys.map((k) => k.first))) {
          byFirst.set(n, await ctx.services.schedules.recentFiresOf(ctx.tenantId, [...new Set(keys.filter((k) => k.first === n).map((k) => k.scheduleId))], n));
        }
        return keys.map((k) => byFirst.get(k.first)!.get(k.scheduleId) ?? []);
      },
      { cacheKeyFn: (k) => `${k.scheduleId}\u0000${k.first}` },
    );
    fireLoaders.set(ctx, loader);
  }
  return loader.load({ scheduleId, first });
}

@Resolver(() => Schedule)
export class ScheduleResolver {
  @Mutation(() => Schedule, {
    description: `Creates a cron schedule of a workflow; its first fire time is the first after now (and after startAt). ${CHECKS}, or over TENANT_MAX_SCHEDULES (extensions.limit).`,
  })
  async createSchedule(@Arg('input', () => ScheduleInput, { description: 'The schedule.' }) input: ScheduleInput, @Ctx() ctx: Context): Promise<Schedule> {
    return toSchedule(await ctx.services.schedules.create(ctx.tenantId, input));
  }

  @Mutation(() => Schedule, { description: `Changes a schedule; its next fire time is recomputed from now. ${CHECKS}; NOT_FOUND for an unknown schedule.` })
  async updateSchedule(
    @Arg('id', () => ID, { description: SCHEDULE_ID }) id: string,
    @Arg('input', () => ScheduleUpdateInput, { description: 'The fields to change.' }) input: ScheduleUpdateInput,
    @Ctx() ctx: Context,
  ): Promise<Schedule> {
    const changes = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    return toSchedule(await ctx.services.schedules.update(ctx.tenantId, id, changes));
  }

  @Mutation(() => Schedule, { description: 'Stops taking fire times (runs already started go on). NOT_FOUND for an unknown schedule.' })
  async pauseSchedule(@Arg('id', () => ID, { description: SCHEDULE_ID }) id: string, @Ctx() ctx: Context): Promise<Schedule> {
    return toSchedule(await ctx.services.schedules.setPaused(ctx.tenantId, id, true));
  }

  @Mutation(() => Schedule, {
    description: 'Takes fire times again from the first after now (the ones passed while paused are not caught up). NOT_FOUND for an unknown schedule.',
  })
  async resumeSchedule(@Arg('id', () => ID, { description: SCHEDULE_ID }) id: string, @Ctx() ctx: Context): Promise<Schedule> {
    return toSchedule(await ctx.services.schedules.setPaused(ctx.tenantId, id, false));
  }

  @Mutation(() => Boolean, { description: 'Deletes a schedule and its fire history (its runs stay); false when the tenant has no such schedule.' })
  async deleteSchedule(@Arg('id', () => ID, { description: SCHEDULE_ID }) id: string, @Ctx() ctx: Context): Promise<boolean> {
    return ctx.services.schedules.delete(ctx.tenantId, id);
  }

  @Mutation(() => Run, {
    description:
      'Runs the schedule now: a fire at this instant (trigger SCHEDULE, fireTime now), started at once whatever the overlap policy. ' +
      'NOT_FOUND for an unknown schedule; a refusal of the start as startRun answers it (QUOTA_EXCEEDED, BAD_USER_INPUT for an input the workflow no longer takes, ' +
      'NOT_FOUND for a workflow gone), the fire recorded FAILED.',
  })
  async triggerSchedule(@Arg('id', () => ID, { description: SCHEDULE_ID }) id: string, @Ctx() ctx: Context): Promise<Run> {
    return toRun(await ctx.services.schedules.trigger(ctx.tenantId, id));
  }

  @Mutation(() => ScheduleBackfill, {
    description:
      'Starts one run for each fire time in [from, to) that has none yet (ALLOW_ALL: a backfill does not wait on itself; fire times that fired already are left). ' +
      'The runs start on the scheduler pass. BAD_USER_INPUT when from is not before to; LIMIT_EXCEEDED (limit SCHEDULE_BACKFILL_MAX) when the range holds ' +
      'more fire times than that: split it. NOT_FOUND for an unknown schedule.',
  })
  async backfillSchedule(
    @Arg('id', () => ID, { description: SCHEDULE_ID }) id: string,
    @Arg('from', () => DateTimeScalar, { description: 'First instant of the range (inclusive).' }) from: Date,
    @Arg('to', () => DateTimeScalar, { description: 'End of the range (exclusive).' }) to: Date,
    @Ctx() ctx: Context,
  ): Promise<ScheduleBackfill> {
    return ctx.services.schedules.backfill(ctx.tenantId, id, from, to);
  }

  @Query(() => Schedule, { nullable: true, description: "A schedule of the caller's tenant by id; null when there is none." })
  async schedule(@Arg('id', () => ID, { description: SCHEDULE_ID }) id: string, @Ctx() ctx: Context): Promise<Schedule | null> {
    const row = await ctx.services.schedules.get(ctx.tenantId, id);
    return row ? toSchedule(row) : null;
  }

  @Query(() => ScheduleConnection, {
    description: "The tenant's schedules as a Relay cursor connection. BAD_USER_INPUT for a size outside 1 to 100 or a cursor this API did not return.",
  })
  async schedules(@Args(() => PageArgs) page: PageArgs, @Ctx() ctx: Context): Promise<ScheduleConnection> {
    return toConnection(await ctx.services.schedules.list(ctx.tenantId, page), toSchedule);
  }

  @FieldResolver(() => [DateTimeScalar], {
    description: 'The next fire times after now (while paused: the ones it would take once resumed), within startAt and endAt. count: 1 to 100.',
  })
  async nextFireTimes(
    @Root() schedule: Schedule,
    @Arg('count', () => Int, { defaultValue: 5, description: 'How many, 1 to 100.' }) count: number,
    @Ctx() ctx: Context,
  ): Promise<Date[]> {
    return ctx.services.schedules.nextFireTimes(schedule, count);
  }

  @FieldResolver(() => [ScheduleFire], { description: 'The latest fires, newest fire time first (skipped and failed ones included). first: 1 to 100.' })
  async recentFires(
    @Root() schedule: Schedule,
    @Arg('first', () => Int, { defaultValue: 20, description: 'How many, 1 to 100.' }) first: number,
    @Ctx() ctx: Context,
  ): Promise<ScheduleFire[]> {
    return (await firesOf(ctx, schedule.id, first)).map(toScheduleFire);
  }

  @FieldResolver(() => [Run], { description: 'The runs of the latest fires that started one, newest fire time first. first: 1 to 100.' })
  async recentRuns(
    @Root() schedule: Schedule,
    @Arg('first', () => Int, { defaultValue: 20, description: 'How many fires to look at, 1 to 100.' }) first: number,
    @Ctx() ctx: Context,
  ): Promise<Run[]> {
    const fires = await firesOf(ctx, schedule.id, first);
    const runs = await Promise.all(fires.flatMap((f) => (f.runId ? [ctx.loaders.runById.load(f.runId)] : [])));
    return runs.flatMap((run) => (run ? [toRun(run)] : []));
  }
}
