import { context, propagation, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { GraphQLInstrumentation } from '@opentelemetry/instrumentation-graphql';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';

export const TRACER_NAME = 'maestro-conductor';

export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * OpenTelemetry for the process: W3C propagation, AsyncLocalStorage context, and the http, pg,
 * ioredis and graphql instrumentations. Call it before those modules are loaded (server.ts does),
 * or they are not patched. Exports over OTLP/HTTP to `endpoint`; `exporter` replaces it (tests).
 */
export function initTracing(opts: { endpoint?: string; serviceName: string; exporter?: SpanExporter }): Tracing {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  const processor = opts.exporter
    ? new SimpleSpanProcessor({ exporter: opts.exporter })
    : new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${opts.endpoint!.replace(/\/$/, '')}/v1/traces` }) });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    spanProcessors: [processor],
  });
  trace.setGlobalTracerProvider(provider);
  const disable = registerInstrumentations({
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url === '/metrics' || req.url === '/healthz' || req.url === '/readyz' }),
      new PgInstrumentation(),
      new IORedisInstrumentation(),
      new GraphQLInstrumentation({ mergeItems: true, ignoreTrivialResolveSpans: true }),
    ],
  });
  return {
    async shutdown() {
      disable();
      await provider.shutdown();
    },
  };
}

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** The W3C traceparent of a span, or null when tracing is off (the span does not record). */
export function traceparentOf(span: Span): string | null {
  if (!span.spanContext().traceFlags && !span.isRecording()) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier['traceparent'] ?? null;
}

/** The context a stored traceparent names: spans started in it join the run's trace. */
export function contextOf(traceparent: string | null | undefined): Context {
  if (!traceparent) return context.active();
  return propagation.extract(context.active(), { traceparent });
}

/** The trace id of a traceparent (for log lines), or undefined. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  return traceparent ? /^[\da-f]{2}-([\da-f]{32})-/.exec(traceparent)?.[1] : undefined;
}

/** A finished span under the run's trace context, for one step of its life. */
export function runSpan(name: string, traceparent: string | null | undefined, attributes: Record<string, string | number | boolean | undefined>): void {
  if (!traceparent) return;
  const span = tracer().startSpan(name, { attributes }, contextOf(traceparent));
  span.end();
}
