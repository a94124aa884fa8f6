import type { Clock } from '../domain/clock';
import { coerceError } from '../domain/errors';
import { Passes } from './passes';
import type { SchedulerLog } from './ports';
import { WakeUp } from './wake-up';

/** What the loop drives: the schedules' pass, and when it next has work. */
export interface ScheduleFiringPort {
  pass(): Promise<{ more: boolean }>;
  nextWorkAt(): Promise<Date | null>;
}

/**
 * The schedules' scheduler pass on the injected clock: one pass at a time, woken at the soonest
 * `nextFireAt` (never later than the poll interval: a schedule created on another replica), by a
 * local change (create, resume, backfill), and by the end of a run a fire of this replica started.
 * Every decision is in Postgres; this only chooses when to look.
 */
export class ScheduleLoop {
  private running = false;
  private readonly passes: Passes;
  private readonly wakeUp: WakeUp;

  constructor(private readonly opts: { firing: ScheduleFiringPort; clock: Clock; pollIntervalMs: number; log: SchedulerLog }) {
    this.passes = new Passes(() => this.pass(), { parallel: 1, active: () => this.running });
    this.wakeUp = new WakeUp(opts.clock, opts.pollIntervalMs, () => {
      this.passes.request();
      return this.passes.idle();
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.passes.request();
  }

  /** Asks for a pass now (coalesced with one running). */
  wake(): void {
    this.passes.request();
  }

  /** Resolves when a pass requested so far has ended (tests on a manual clock). */
  idle(): Promise<void> {
    return this.passes.idle();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp.disarm();
    await this.passes.idle();
  }

  private async pass(): Promise<void> {
    try {
      const { more } = await this.opts.firing.pass();
      if (more) this.passes.request();
      const next = await this.opts.firing.nextWorkAt();
      if (next) this.wakeUp.arm(next);
    } catch (e: unknown) {
      this.opts.log.error({ err: coerceError(e) }, 'schedule pass failed; retrying after the poll interval');
    } finally {
      if (this.running) this.wakeUp.poll();
    }
  }
}
