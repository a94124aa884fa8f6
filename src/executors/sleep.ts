import { MAX_DURATION_MS } from '../domain/dag';
import { isObject, TaskFailure, type Executor } from './executor';

/**
 * `{ "ms": n }`: waits n milliseconds on a durable timer kept in Postgres, so a run sleeping across
 * a restart wakes on time after it. Output: the input.
 */
export const sleepExecutor: Executor = {
  type: 'sleep',
  async execute(ctx) {
    const ms = isObject(ctx.input) ? ctx.input['ms'] : undefined;
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > MAX_DURATION_MS) {
      throw new TaskFailure(`sleep needs input { "ms": <integer from 0 to ${MAX_DURATION_MS}> }, got ${JSON.stringify(ctx.input)}`, false);
    }
    return { kind: 'sleep', until: new Date(ctx.now().getTime() + ms) };
  },
};
