import type { EngineHooks } from '../domain/hooks';
import { runSpan } from './tracing';

/**
 * A span per step in the life of a task or run, under the run's stored traceparent, so a trace
 * shows the claim, the attempt's end and the run's end beside the request spans. The run's root
 * span is started by `startRun` itself: its traceparent is stored with the run.
 */
export function traceRunLifecycle(hooks: EngineHooks): void {
  hooks.on('task:claimed', (e) =>
    runSpan('maestro.task.claim', e.traceparent, {
      'maestro.run_id': e.runId,
      'maestro.task_id': e.taskId,
      'maestro.task_key': e.key,
      'maestro.attempt': e.attempt,
      'maestro.queue': e.queue ?? 'builtin',
      'maestro.worker_id': e.workerId,
    }),
  );
  hooks.on('task:finished', (e) =>
    runSpan(`maestro.task.${e.status.toLowerCase()}`, e.traceparent, {
      'maestro.run_id': e.runId,
      'maestro.task_id': e.taskId,
      'maestro.task_key': e.key,
      'maestro.attempt': e.attempt,
    }),
  );
  hooks.on('run:finished', (e) =>
    runSpan(`maestro.run.${e.status.toLowerCase()}`, e.traceparent, { 'maestro.run_id': e.runId, 'maestro.workflow': e.workflow }),
  );
}
