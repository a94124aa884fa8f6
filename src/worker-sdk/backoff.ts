/** How a worker waits between tries when the conductor cannot be reached. */
export interface BackoffOptions {
  /**
   * First delay.
   * @default 100
   */
  initialDelayMs?: number;
  /**
   * Cap. 5 s: a restarted conductor (about 2 s to drain and start again) gets its workers back
   * within a few seconds, and a down one sees at most one request per worker every 2.5–5 s.
   * @default 5000
   */
  maxDelayMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialDelayMs: 100, maxDelayMs: 5_000 };

/**
 * Capped exponential backoff with "equal jitter": half the delay fixed, half random, so workers
 * that lost the conductor at the same moment do not all come back in the same millisecond.
 * `failures` counts from 0.
 */
export function backoffDelay(failures: number, opts: Required<BackoffOptions>, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.initialDelayMs * 2 ** Math.min(failures, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Waits `ms`; true when it did, false when `signal` cut it short. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
