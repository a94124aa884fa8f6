/**
 * The Maestro Conductor worker SDK: what a remote worker imports. It talks to the conductor's
 * GraphQL API over HTTP (global fetch) and shares no code with the server.
 *
 * ```ts
 * import { Worker, NonRetryableError } from './src/worker-sdk'; // from this repository
 *
 * const worker = new Worker({
 *   url: 'http://localhost:4000/graphql',
 *   apiKey: process.env.MAESTRO_API_KEY,
 *   queue: 'images',
 *   concurrency: 8,
 *   handler: async ({ input, signal, attempt }) => {
 *     if (!input) throw new NonRetryableError('no input'); // fails at once
 *     return resize(input, { signal }); // the output; a throw is retried per the step's policy
 *   },
 * });
 * worker.on('task:failed', (e) => console.warn(e.taskId, e.error));
 * worker.start();
 * process.once('SIGTERM', () => void worker.stop({ graceMs: 10_000 }).then(() => process.exit(0)));
 * ```
 *
 * Or without code: `npm run worker -- --queue images --handler ./handler.js` (see `cli.ts`).
 */
export { Worker, MAX_CLAIM, MIN_LEASE_MS, MAX_LEASE_MS, MAX_POLL_WAIT_MS, type WorkerOptions, type WorkerState } from './worker';
export { ConductorClient, type ConductorClientOptions, type TaskResult } from './client';
export {
  ConductorError,
  ConductorUnavailableError,
  LeaseLostError,
  NonRetryableError,
  RunCancelledError,
  WorkerStoppingError,
  type ConductorErrorCode,
} from './errors';
export type { AttemptInfo, LeaseEndCode, LeaseLostDuring, WorkerEvents } from './events';
export type { BackoffOptions } from './backoff';
export type { ClaimedTask, Json, TaskContext, TaskHandler, TaskLease, TaskRef, WorkerLogger } from './types';
