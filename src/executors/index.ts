import type { Executor } from './executor';
import { createHttpExecutor, type HttpExecutorOptions } from './http';
import { noopExecutor } from './noop';
import { signalExecutor } from './signal';
import { sleepExecutor } from './sleep';

export function builtInExecutors(http: HttpExecutorOptions): Map<string, Executor> {
  const list = [noopExecutor, sleepExecutor, signalExecutor, createHttpExecutor(http)];
  return new Map(list.map((e) => [e.type, e]));
}
