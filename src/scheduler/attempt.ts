import { sleepOn, type Clock } from '../domain/clock';
import { coerceError, DomainError, LeaseLostError, LimitExceededError, RunCancelledError, UnavailableError } from '../domain/errors';
import { storable } from '../domain/json';
import type { TaskRecord } from '../domain/model';
import { TaskFailure, type ExecutionResult, type Executor } from '../executors/executor';
import type { SchedulerEngine, SchedulerLog } from './ports';

export interface AttemptContext {
  engine: SchedulerEngine;
  executors: ReadonlyMap<string, Executor>;
  clock: Clock;
  log: SchedulerLog;
  /** The executor returned or threw: its slot frees, while the result may still be committing. */
  executorDone(): void;
  /** The replica is shutting down: an aborted attempt is given back, not abandoned. */
  draining(): boolean;
  /** The attempt is about to park on a durable timer: it holds no lease from now on. */
  parking(): void;
  /** Parking did not get through (the database is unavailable): the attempt holds its lease again until the next try. */
  unparked(): void;
  /** The attempt parked on a durable timer due at `until`. */
  parked(until: Date): void;
}

/** First wait before writing a result again while the database is unavailable. */
const RETRY_INITIAL_MS = 100;
/**
 * Longest wait between two tries: a Postgres restart (about 1–3 s) is caught within a second or
 * two of its end, and 64 attempts waiting on a down database try ~32 times a second between them.
 */
const RETRY_MAX_MS = 2_000;

/** Capped exponential backoff with equal jitter; `failures` counts from 0. */
export function resultRetryDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_INITIAL_MS * 2 ** Math.min(failures, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Runs one built-in attempt and reports how it ended: completed, failed, parked on a durable
 * timer (a sleep), or, when aborted, given back (shutdown) or abandoned (its lease was lost or
 * its run cancelled: whoever holds the task now decides). Never rejects.
 *
 * A result that cannot be written because the database is unavailable is kept and written again
 * with backoff for as long as the attempt holds its lease: the scheduler goes on renewing it (in
 * Redis, or in process), so a Postgres restart costs the step nothing. When the lease is lost
 * meanwhile (the signal aborts), the result is dropped: the task belongs to another attempt.
 */
export async function runAttempt(task: TaskRecord, signal: AbortSignal, ctx: AttemptContext): Promise<void> {
  const { engine, clock } = ctx;
  const report = (write: () => Promise<unknown>) => reportResult(ctx, signal, { taskId: task.id, runId: task.runId, tenantId: task.tenantId }, write);
  const executor = ctx.executors.get(task.type);
  let result: ExecutionResult;
  try {
    if (!executor) throw new TaskFailure(`No built-in executor for type "${task.type}"`, false);
    result = await executor.execute({
      taskId: task.id,
      runId: task.runId,
      tenantId: task.tenantId,
      attempt: task.attempt,
      input: task.input,
      timeoutMs: task.timeoutMs,
      signal,
      now: () => clock.now(),
    });
  } catch (e: unknown) {
    ctx.executorDone();
    if (signal.aborted && !ctx.draining()) return;
    // Aborted by shutdown: give the task back to another replica, uncounted.
    if (signal.aborted) {
      await report(() => engine.release(task.id, task.fence));
      return;
    }
    const failure = e instanceof TaskFailure ? e : new TaskFailure(coerceError(e).message, true);
    await report(() => engine.fail(task.id, task.fence, storable(failure.message) as string, failure.retryable));
    return;
  }
  ctx.executorDone();
  if (result.kind === 'sleep') {
    if (result.until.getTime() <= clock.now().getTime()) {
      await report(() => engine.complete(task.id, task.fence, task.input));
    } else {
      await report(async () => {
        ctx.parking();
        try {
          return await engine.setTimer(task.id, task.fence, task.tenantId, result.until);
        } catch (e: unknown) {
          ctx.unparked();
          throw e;
        }
      });
      ctx.parked(result.until);
    }
    return;
  }
  if (result.kind === 'signal') {
    const { name, timeoutAt } = result;
    // Parked like a sleep: the slot is already free, the lease goes with the park.
    await report(async () => {
      ctx.parking();
      try {
        return await engine.awaitSignal(task.id, task.fence, task.tenantId, name, timeoutAt);
      } catch (e: unknown) {
        ctx.unparked();
        throw e;
      }
    });
    if (timeoutAt) ctx.parked(timeoutAt);
    return;
  }
  // The engine checks the output's depth and size before anything recursive touches it, and fails
  // the attempt at once when it cannot be stored (an http response nested 100k levels deep).
  await report(() => engine.complete(task.id, task.fence, result.output, null, { sanitize: true }));
}

async function reportResult(attempt: AttemptContext, signal: AbortSignal, ctx: object, write: () => Promise<unknown>): Promise<void> {
  const { log, clock } = attempt;
  const startedAt = clock.now().getTime();
  for (let failures = 0; ; failures++) {
    try {
      await write();
      if (failures > 0) {
        log.warn(
          { ...ctx, tries: failures + 1, waitedMs: clock.now().getTime() - startedAt },
          'result of a built-in attempt recorded after the database came back',
        );
      }
      return;
    } catch (e: unknown) {
      if (!(e instanceof UnavailableError) || signal.aborted) {
        logRefusal(log, ctx, e);
        return;
      }
      if (failures === 0) log.warn({ ...ctx, err: e }, 'the database is unavailable: keeping the result of a built-in attempt (and its lease) and retrying');
      await sleepOn(clock, new Date(clock.now().getTime() + resultRetryDelayMs(failures)), signal).catch(() => undefined);
      if (signal.aborted) {
        log.warn({ ...ctx, tries: failures + 1 }, 'the lease of a built-in attempt ended while its result waited for the database; dropping the result');
        return;
      }
    }
  }
}

function logRefusal(log: SchedulerLog, ctx: object, e: unknown): void {
  if (e instanceof LimitExceededError) {
    // The output was over a limit: the engine failed the attempt instead of storing it.
    log.debug(
      { ...ctx, code: e.code, limit: e.data.limit, max: e.data.max, actual: e.data.actual },
      'output of a built-in attempt refused; the attempt failed',
    );
  } else if (e instanceof LeaseLostError || e instanceof RunCancelledError) {
    log.debug({ ...ctx, code: e.code }, 'result of a built-in attempt refused');
  } else if (e instanceof DomainError) {
    log.debug({ ...ctx, code: e.code }, 'result of a built-in attempt not recorded');
  } else {
    // The attempt stays RUNNING; its lease expiry hands it to another attempt.
    log.error({ ...ctx, err: coerceError(e) }, 'could not record the result of a built-in attempt');
  }
}
