import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTracing, type Tracing } from '../../src/observability/tracing';
import { Worker } from '../../src/worker-sdk';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

describe('a run is one trace', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let t: TestApp;
  beforeAll(async () => {
    tracing = initTracing({ serviceName: 'maestro-test', exporter });
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
    await tracing?.shutdown();
  });

  it('from startRun through a built-in step and a remote step to the run finishing', async () => {
    await t.ok(`mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: {
        name: 'traced',
        steps: [
          { key: 'local', type: 'noop' },
          { key: 'remote', type: 'x', queue: 'trace-q', dependsOn: ['local'] },
        ],
      },
    });
    const { startRun } = await t.ok(`mutation { startRun(workflow: "traced") { id } }`);
    const { claimTasks } = await t.ok(`mutation { claimTasks(queue: "trace-q", workerId: "w", waitMs: 10000) { leaseToken task { id traceparent } } }`);
    const [lease] = claimTasks;
    expect(lease.task.traceparent).toMatch(/^00-[\da-f]{32}-[\da-f]{16}-0[01]$/);
    await t.ok(`mutation($id: ID!, $tok: String!) { completeTask(taskId: $id, leaseToken: $tok, output: { ok: true }) { status } }`, {
      id: lease.task.id,
      tok: lease.leaseToken,
    });
    expect((await waitForRun(t, startRun.id)).status).toBe('SUCCEEDED');

    const traceId = lease.task.traceparent.split('-')[1];
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const names = spans.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['maestro.run', 'maestro.task.claim', 'maestro.task.succeeded', 'maestro.run.succeeded']));
    expect(names.filter((n) => n === 'maestro.task.claim')).toHaveLength(2);
    const root = spans.find((s) => s.name === 'maestro.run')!;
    for (const s of spans.filter((x) => x !== root)) expect(s.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(root.attributes['maestro.run_id']).toBe(startRun.id);
  });

  it('continues through a remote worker: the SDK processes the task in a span of the run trace', async () => {
    await t.ok(`mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: {
        name: 'traced-sdk',
        steps: [
          { key: 'first', type: 'noop' },
          { key: 'remote', type: 'echo', queue: 'trace-sdk', dependsOn: ['first'] },
        ],
      },
    });
    const worker = new Worker({ url: t.app.url, queue: 'trace-sdk', concurrency: 2, handler: async (ctx) => ({ seen: ctx.key }) });
    worker.start();
    try {
      const { startRun } = await t.ok(`mutation { startRun(workflow: "traced-sdk") { id } }`);
      const run = await waitForRun(t, startRun.id);
      expect(run.output).toEqual({ remote: { seen: 'remote' } });
      const root = exporter.getFinishedSpans().find((s) => s.name === 'maestro.run' && s.attributes['maestro.run_id'] === startRun.id)!;
      const traceId = root.spanContext().traceId;
      const inTrace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      const processed = inTrace.filter((s) => s.name === 'maestro.task.process');
      expect(processed).toHaveLength(1);
      expect(processed[0]!.attributes['maestro.task_key']).toBe('remote');
      expect(processed[0]!.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
      expect(inTrace.map((s) => s.name)).toEqual(
        expect.arrayContaining(['maestro.run', 'maestro.task.claim', 'maestro.task.process', 'maestro.task.succeeded', 'maestro.run.succeeded']),
      );
    } finally {
      await worker.stop({ graceMs: 1000 });
    }
  });
});
