import { context, propagation, SpanStatusCode, trace, type Span } from '@opentelemetry/api';

/**
 * Continues the run's trace in the worker: each attempt runs in a `maestro.task.process` span
 * whose parent is the task's `traceparent`, and the requests it makes carry that span's context.
 * Only the OpenTelemetry API is used: with no SDK registered in the worker process every call is
 * a no-op, so the worker pays nothing unless its operator sets up tracing.
 */
export interface AttemptSpan {
  /** Runs `fn` with the span as the active context (handlers' own spans nest under it). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** W3C headers naming the span, for requests made on the attempt's behalf. */
  headers(): Record<string, string>;
  end(error?: unknown): void;
}

export function startAttemptSpan(task: { id: string; runId: string; key: string; attempt: number; traceparent: string | null }, workerId: string): AttemptSpan {
  const parent = task.traceparent ? propagation.extract(context.active(), { traceparent: task.traceparent }) : context.active();
  const span: Span = trace.getTracer('maestro-worker-sdk').startSpan(
    'maestro.task.process',
    {
      attributes: {
        'maestro.run_id': task.runId,
        'maestro.task_id': task.id,
        'maestro.task_key': task.key,
        'maestro.attempt': task.attempt,
        'maestro.worker_id': workerId,
      },
    },
    parent,
  );
  const ctx = trace.setSpan(parent, span);
  return {
    run: (fn) => context.with(ctx, fn),
    headers() {
      const carrier: Record<string, string> = {};
      propagation.inject(ctx, carrier);
      return carrier;
    },
    end(error?: unknown) {
      if (error !== undefined) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      span.end();
    },
  };
}
