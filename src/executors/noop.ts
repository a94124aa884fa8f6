import type { Executor } from './executor';

/** Does nothing; its output is its resolved input (handy for wiring and templating). */
export const noopExecutor: Executor = {
  type: 'noop',
  async execute(ctx) {
    return { kind: 'completed', output: ctx.input };
  },
};
