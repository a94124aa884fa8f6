/**
 * Retry policy arithmetic: whether a failed attempt gets another, and how long to wait first.
 * Pure: randomness is injected, and the caller adds the delay to its own `now`.
 */
import type { RetryPolicy } from './glossary';

/**
 * Jitter spread: the delay is drawn uniformly from [80 %, 120 %] of the exponential delay.
 *
 * Why not "full jitter" (uniform in [0, delay], AWS Architecture Blog, "Exponential Backoff And
 * Jitter", 2015)? It de-correlates retries best but can retry after a few ms when the user asked
 * for 1000, which reads as a bug and hammers a dependency that just failed. ±20 % still spreads a
 * burst of tasks that failed together (e.g. 100 tasks on one outage) over a window 0.4× the
 * delay wide, while every delay stays within 20 % of what the policy says.
 */
export const JITTER_LOW = 0.8;
export const JITTER_HIGH = 1.2;

/**
 * Milliseconds to wait before attempt `attempt + 1`, after attempt `attempt` failed.
 *
 * The base delay is `initialDelayMs * backoffFactor^(attempt - 1)`, capped at `maxDelayMs`. It is
 * then jittered to `base * (0.8 + 0.4 * random())` and capped again, so `maxDelayMs` is a hard
 * bound a user can rely on (at the cap, delays fall in [0.8 × maxDelayMs, maxDelayMs]). Rounded
 * to whole milliseconds.
 *
 * @param attempt the attempt that just failed, counting from 1.
 * @param random uniform in [0, 1) like `Math.random`; values outside (and NaN) are clamped, so the bounds
 *   above hold whatever it returns.
 * @throws RangeError if `attempt` is not an integer ≥ 1 (a caller bug, not user input).
 */
export function backoffDelayMs(policy: RetryPolicy, attempt: number, random: () => number): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
  }
  const { initialDelayMs, backoffFactor, maxDelayMs } = policy;
  // Checked first: 0 * Infinity (a large factor overflowing) would be NaN.
  if (initialDelayMs <= 0 || maxDelayMs <= 0) return 0;
  // factor^(attempt-1) may overflow to Infinity for large attempts; min() then yields the cap.
  const base = Math.min(maxDelayMs, initialDelayMs * backoffFactor ** (attempt - 1));
  const raw = random();
  const r = raw >= 0 ? Math.min(1, raw) : 0; // `>=` is false for NaN too

  const jittered = base * (JITTER_LOW + (JITTER_HIGH - JITTER_LOW) * r);
  return Math.round(Math.min(maxDelayMs, jittered));
}

/**
 * Whether a task gets another attempt after attempt `attempt` failed: only if the failure is
 * retryable and fewer than `maxAttempts` attempts (the first included) have been made.
 */
export function shouldRetry(policy: RetryPolicy, attempt: number, retryable: boolean): boolean {
  return retryable && attempt < policy.maxAttempts;
}
