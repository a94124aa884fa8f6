import type { Executor } from './executor';
import { createHttpExecutor } from './http';
import { noopExecutor } from './noop';
import { sleepExecutor } from './sleep';

export function builtInExecutors(opts: { httpDefaultTimeoutMs: number }): Map<string, Executor> {
  const list = [noopExecutor, sleepExecutor, createHttpExecutor({ defaultTimeoutMs: opts.httpDefaultTimeoutMs })];
  return new Map(list.map((e) => [e.type, e]));
}
