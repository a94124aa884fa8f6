/**
 * Time is passed in: services and loops read it from here, and wait on it through the timer
 * port, so a test moves it by hand (ManualClock) and nothing in between sleeps on the wall clock.
 */
export interface Clock {
  now(): Date;
  /**
   * Calls `fn` once the clock reaches `at` (soon, if it already has); returns a cancel. A promise
   * `fn` returns is the work the timer started: a manual clock lets it finish before moving on;
   * the system clock ignores it, so `fn` handles its own errors.
   */
  setTimer(at: Date, fn: TimerCallback): () => void;
  /** Resolves when the clock reaches `at`; rejects with the signal's reason if it aborts first. */
  sleepUntil(at: Date, signal?: AbortSignal): Promise<void>;
}

export type TimerCallback = () => void | Promise<unknown>;

/** setTimeout's longest delay (2^31 - 1 ms, ~24.8 days); a longer one fires after 1 ms instead. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => new Date(),
  setTimer(at, fn) {
    let timer: NodeJS.Timeout;
    const arm = () => {
      const delay = at.getTime() - Date.now();
      // Unref'd: a pending wake-up never keeps the process alive; shutdown is explicit.
      timer = setTimeout(delay > MAX_TIMEOUT_MS ? arm : () => void fn(), Math.min(Math.max(0, delay), MAX_TIMEOUT_MS));
      timer.unref();
    };
    arm();
    return () => clearTimeout(timer);
  },
  sleepUntil(at, signal) {
    return sleepOn(systemClock, at, signal);
  },
};

/** `sleepUntil` for any clock, built on its `setTimer`. */
export function sleepOn(clock: Pick<Clock, 'setTimer'>, at: Date, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      cancel();
      reject(signal!.reason);
    };
    const cancel = clock.setTimer(at, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
