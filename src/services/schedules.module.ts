import type { Clock } from '../domain/clock';
import { coerceError } from '../domain/errors';
import type { EngineHooks } from '../domain/hooks';
import { ScheduleLoop } from '../scheduler/schedule-loop';
import type { SchedulerLog } from '../scheduler/ports';
import { soonestFire } from '../store/schedules.store';
import type { Database } from '../store/sql';
import type { RunsService } from './runs.service';
import { ScheduleFiring } from './schedule-firing';
import { SchedulesService, type ScheduleLimits } from './schedules.service';
import type { WorkflowsService } from './workflows.service';

/** The schedules feature as the composition root wires it: the API service, the firing pass and its loop. */
export interface Schedules {
  service: SchedulesService;
  loop: ScheduleLoop;
  /** Seconds until the soonest fire time (negative: overdue); null when none: the next-fire gauge. */
  secondsUntilNextFire(): Promise<number | null>;
}

export function createSchedules(deps: {
  db: Database;
  runs: RunsService;
  workflows: WorkflowsService;
  clock: Clock;
  hooks: EngineHooks;
  log: SchedulerLog;
  /** SCHEDULER_POLL_INTERVAL_MS: the longest a schedule created on another replica waits to be seen. */
  pollIntervalMs: number;
  limits: ScheduleLimits;
}): Schedules {
  const { db, clock, log } = deps;
  const firing = new ScheduleFiring({
    ...deps,
    onError: (e) => log.warn({ err: coerceError(e) }, 'starting a schedule fire failed; a later pass retries it'),
  });
  const loop = new ScheduleLoop({ firing, clock, pollIntervalMs: deps.pollIntervalMs, log });
  firing.onRunFinished(() => loop.wake());
  const service = new SchedulesService({ db, workflows: deps.workflows, firing, clock, limits: deps.limits, wake: () => loop.wake() });
  return {
    service,
    loop,
    secondsUntilNextFire: async () => {
      const at = await soonestFire(db);
      return at ? (at.getTime() - clock.now().getTime()) / 1_000 : null;
    },
  };
}
