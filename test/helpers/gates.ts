import { setImmediate as turn } from 'node:timers/promises';

/**
 * Concurrency tests without sleeping (Temporal's test-semaphore.ts style): work waits on a gate
 * the test opens, and the test lets the event loop turn a known number of times in between.
 */
export interface Gate<T = void> {
  readonly promise: Promise<T>;
  open(value: T): void;
  fail(error: Error): void;
}

export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<T>((resolve, reject) => ((open = resolve), (fail = reject)));
  return { promise, open, fail };
}

/** Lets the event loop turn `n` times (setImmediate): pending promise chains run, no time passes. */
export async function ticks(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

/** Whether `promise` has settled, after `n` turns of the event loop. */
export async function settledWithin(promise: Promise<unknown>, n = 5): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await ticks(n);
  return settled;
}

/**
 * Resolves once `condition()` holds, checked after every turn of the event loop: for state with
 * no event to wait on (a long poll that has begun waiting). Not a clock: `maxMs` only bounds a
 * wait that would otherwise hang the test.
 */
export async function until(condition: () => boolean, what: string, maxMs = 10_000): Promise<void> {
  const giveUpAt = performance.now() + maxMs;
  while (!condition()) {
    if (performance.now() > giveUpAt) throw new Error(`still waiting, after ${maxMs} ms, for ${what}`);
    await turn();
  }
}
