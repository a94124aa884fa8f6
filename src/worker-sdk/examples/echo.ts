/**
 * Echo: a runnable example handler. Its output is its input, with the attempt and the worker
 * that ran it.
 *
 * Try it (two terminals):
 *
 * ```sh
 * npm run dev                                                            # a conductor on :4000
 * npm run worker -- --queue demo --handler src/worker-sdk/examples/echo.ts
 * ```
 *
 * then, in the Playground (http://localhost:4000/graphql):
 *
 * ```graphql
 * mutation { registerWorkflow(input: { name: "echo", steps: [
 *   { key: "echo", type: "echo", queue: "demo", input: "{{ input }}", retry: { maxAttempts: 3, initialDelayMs: 500 } }
 * ] }) { version } }
 * mutation { startRun(workflow: "echo", input: { hello: "world", sleepMs: 2000, fail: 1 }) { id } }
 * ```
 *
 * The run fails its first attempt, waits half a second, succeeds on the second (after sleeping
 * 2 s) and its output is `{ echo: { echo: { hello: "world", … }, attempt: 2, … } }`. Compiled
 * (`npm run build`), pass `--handler dist/src/worker-sdk/examples/echo.js`.
 *
 * Input fields it understands (anything else is just echoed):
 * - `sleepMs`: wait this long first (cut short when the attempt is aborted).
 * - `sleepAttempts`: sleep only in the first n attempts (a slow first try, then a quick retry).
 * - `fail`: `true` fails every attempt; a number n fails the first n attempts.
 * - `nonRetryable`: with `fail`, fail with `NonRetryableError` (no retry whatever the policy).
 * - `message`: the failure's message.
 */
import { NonRetryableError, type TaskContext } from '../index';

export interface EchoOutput {
  echo: unknown;
  attempt: number;
  workerId: string;
  pid: number;
}

export default async function echo(ctx: TaskContext): Promise<EchoOutput> {
  const input = ctx.input !== null && typeof ctx.input === 'object' && !Array.isArray(ctx.input) ? ctx.input : {};
  const sleepMs = typeof input['sleepMs'] === 'number' ? input['sleepMs'] : 0;
  const sleepAttempts = typeof input['sleepAttempts'] === 'number' ? input['sleepAttempts'] : Infinity;
  if (sleepMs > 0 && ctx.attempt <= sleepAttempts) await abortableSleep(sleepMs, ctx.signal);
  // Aborted (lease lost, run cancelled, worker stopping): the result would not be recorded anyway.
  ctx.signal.throwIfAborted();

  const fail = input['fail'];
  if (fail === true || (typeof fail === 'number' && ctx.attempt <= fail)) {
    const message = typeof input['message'] === 'string' ? input['message'] : `echo: failing attempt ${ctx.attempt} as asked`;
    throw input['nonRetryable'] === true ? new NonRetryableError(message) : new Error(message);
  }
  return { echo: ctx.input, attempt: ctx.attempt, workerId: ctx.workerId, pid: process.pid };
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
