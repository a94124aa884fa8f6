import { describeStartupError, type StartupError, type Target } from './describe';

export interface WaitForOptions<T> {
  target: Target;
  /** Connects once; throws the driver's error. Must leave nothing open when it throws. */
  connect: () => Promise<T>;
  /** How long to keep retrying (STARTUP_WAIT_MS); 0: fail at the first error. */
  waitMs: number;
  /** Each failure that will be retried, with the delay before the next try. */
  onRetry?: (error: StartupError, retryInMs: number) => void;
  /** @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** @default Date.now */
  now?: () => number;
}

/** First retry after 250 ms, doubling to at most 5 s: quick when a sidecar is a second late, calm when Postgres is down for minutes. */
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5_000;

/**
 * Connects to a dependency, retrying with backoff for up to `waitMs` (start-up ordering in a
 * cluster: Postgres or Redis may come up after the conductor). Every failure is described by
 * {@link describeStartupError}; the last one is thrown.
 */
export async function waitFor<T>(opts: WaitForOptions<T>): Promise<T> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = now() + opts.waitMs;
  let delay = FIRST_DELAY_MS;
  for (;;) {
    try {
      return await opts.connect();
    } catch (e: unknown) {
      const error = describeStartupError(opts.target, e);
      const left = deadline - now();
      if (left <= 0) throw error;
      const wait = Math.min(delay, left);
      opts.onRetry?.(error, wait);
      await sleep(wait);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}
