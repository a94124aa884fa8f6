import { MAX_DURATION_MS } from '../domain/dag';
import { isObject, TaskFailure, type Executor } from './executor';

/**
 * `{ "name": "approve", "timeoutMs": n? }`: waits durably for `signalRun(id, "approve", payload)`
 * (a signal sent earlier is taken at once); the payload is the output. The attempt parks in
 * Postgres, holding no slot and no lease; past `timeoutMs` it fails (retryable: a retry waits
 * again). The input is checked at registration; the check here guards older definitions.
 */
export const signalExecutor: Executor = {
  type: 'signal',
  async execute(ctx) {
    const input = isObject(ctx.input) ? ctx.input : {};
    const name = input['name'];
    const timeoutMs = input['timeoutMs'] ?? null;
    if (typeof name !== 'string' || name.length === 0) {
      throw new TaskFailure(`signal needs input { "name": "<signal name>" }, got ${JSON.stringify(ctx.input)}`, false);
    }
    if (timeoutMs !== null && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_DURATION_MS)) {
      throw new TaskFailure(`signal timeoutMs must be an integer from 1 to ${MAX_DURATION_MS}, got ${JSON.stringify(timeoutMs)}`, false);
    }
    return { kind: 'signal', name, timeoutAt: timeoutMs === null ? null : new Date(ctx.now().getTime() + timeoutMs) };
  },
};
