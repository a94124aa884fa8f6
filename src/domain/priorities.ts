/**
 * Priorities: which ready task is claimed first. A run has one (`startRun(priority:)`), a step
 * may override it (`StepInput.priority`); its tasks carry the result. Higher goes first within a
 * queue and within a tenant's turn of the built-in dispatcher, and age raises a waiting task's
 * effective priority so the lowest is never starved (see `claimRank`). Pure.
 */
import { ValidationError } from './errors';

/** The lowest priority (Hatchet's scale: 1 low, 2 medium, 3 high). */
export const PRIORITY_MIN = 1;
/** The highest priority. */
export const PRIORITY_MAX = 3;
/** What a run gets when startRun names none, in the middle. */
export const DEFAULT_PRIORITY = 2;
/**
 * How long a ready task waits before it counts one level higher (PRIORITY_AGING_MS). One
 * minute: a priority-1 task ready for two minutes goes before a priority-3 task just queued, so
 * a steady flood of high-priority work delays the lowest by at most ~2 minutes of ready time.
 */
export const DEFAULT_PRIORITY_AGING_MS = 60_000;

/** `ValidationError.data.reason` of a priority out of range. */
export const INVALID_PRIORITY = 'INVALID_PRIORITY';

/** Whether `value` is a priority (an integer from 1 to 3). */
export function isPriority(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= PRIORITY_MIN && (value as number) <= PRIORITY_MAX;
}

/** @throws ValidationError (reason INVALID_PRIORITY) naming `field` when `value` is not a priority. */
export function checkPriority(value: unknown, field: string, context = ''): void {
  if (isPriority(value)) return;
  throw new ValidationError(
    `${context}${field} is ${JSON.stringify(value)}; use an integer from ${PRIORITY_MIN} (low) to ${PRIORITY_MAX} (high), default ${DEFAULT_PRIORITY}`,
    { reason: INVALID_PRIORITY, field, value: value as never, min: PRIORITY_MIN, max: PRIORITY_MAX },
  );
}

/**
 * The claim order of a ready task, smallest first: when it became available, moved earlier by
 * one aging period per level of priority. So within one level the oldest goes first, a higher
 * level goes before a lower one that became ready up to `agingMs` per level earlier, and a task
 * that waited longer than that goes before a higher one that just arrived: its effective
 * priority rose by one level per `agingMs` of waiting. The claim statements compute the same
 * expression in SQL (`src/store/claim-order.ts`); this is its specification and unit under test.
 */
export function claimRank(availableAt: Date, priority: number, agingMs: number): number {
  return availableAt.getTime() - priority * agingMs;
}
