import type { Json } from '../domain/glossary';

export interface ExecutionContext {
  taskId: string;
  runId: string;
  tenantId: string;
  attempt: number;
  /** The task's input, templates resolved. */
  input: Json;
  /** The step's per-attempt bound, if it set one. */
  timeoutMs: number | null;
  /** Aborted when the conductor shuts down or the attempt is abandoned. */
  signal: AbortSignal;
  now(): Date;
}

export type ExecutionResult =
  /** The attempt succeeded with this output. */
  | { kind: 'completed'; output: Json }
  /** Park the attempt on a durable timer; it completes (output = input) when the timer fires. */
  | { kind: 'sleep'; until: Date }
  /** Park the attempt until a signal of `name` arrives (its payload is the output), failing at `timeoutAt` (null: never). */
  | { kind: 'signal'; name: string; timeoutAt: Date | null };

/** A failed attempt; `retryable: false` fails the task at once, whatever its retry policy. */
export class TaskFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'TaskFailure';
  }
}

export interface Executor {
  readonly type: string;
  execute(ctx: ExecutionContext): Promise<ExecutionResult>;
}

export function isObject(value: Json): value is { [key: string]: Json } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
