import type { EngineHooks, LeaseHook } from '../domain/hooks';
import type { Logger } from './logger';
import { traceIdOf } from './tracing';

/**
 * One log line per step in the life of a run or task, each with `runId`, `taskId`, `tenantId`,
 * `workflow` and `traceId`, so "search by runId / taskId / tenantId" works in Loki or ELK.
 * Inputs and outputs are never logged; errors are, scrubbed by the logger.
 */
export function logRunLifecycle(hooks: EngineHooks, logger: Logger): void {
  hooks.on('run:created', (e) => logger.info({ runId: e.runId, tenantId: e.tenantId, workflow: e.workflow, traceId: traceIdOf(e.traceparent) }, 'run created'));
  hooks.on('run:started', (e) =>
    logger.debug({ runId: e.runId, tenantId: e.tenantId, workflow: e.workflow, traceId: traceIdOf(e.traceparent) }, 'run started'),
  );
  hooks.on('run:finished', (e) => {
    const fields = {
      runId: e.runId,
      tenantId: e.tenantId,
      workflow: e.workflow,
      status: e.status,
      durationMs: e.durationMs,
      traceId: traceIdOf(e.traceparent),
    };
    if (e.status === 'FAILED') logger.warn({ ...fields, error: e.error }, 'run failed');
    else logger.info(fields, `run ${e.status.toLowerCase()}`);
  });
  hooks.on('task:claimed', (e) =>
    logger.debug(
      {
        runId: e.runId,
        taskId: e.taskId,
        tenantId: e.tenantId,
        workflow: e.workflow,
        step: e.key,
        attempt: e.attempt,
        queue: e.queue ?? 'builtin',
        workerId: e.workerId,
        waitedMs: e.waitedMs,
        traceId: traceIdOf(e.traceparent),
      },
      'task claimed',
    ),
  );
  hooks.on('task:finished', (e) => {
    const fields = {
      runId: e.runId,
      taskId: e.taskId,
      tenantId: e.tenantId,
      workflow: e.workflow,
      step: e.key,
      attempt: e.attempt,
      status: e.status,
      traceId: traceIdOf(e.traceparent),
    };
    if (e.status === 'FAILED') logger.warn({ ...fields, error: e.error }, 'task failed');
    else logger.debug(fields, `task ${e.status.toLowerCase()}`);
  });
  // Lease lines carry the same ids as every other line about a task (runbook: "search by runId, taskId, tenantId").
  const lease = (e: LeaseHook) => ({ runId: e.runId, taskId: e.taskId, tenantId: e.tenantId, workflow: e.workflow, leaseToken: e.fence });
  hooks.on('task:reclaimed', (e) => logger.warn(lease(e), 'lease expired: task reclaimed'));
  hooks.on('task:fenced', (e) => logger.warn(lease(e), 'late result refused: its lease had expired (fenced)'));
  hooks.on('lease:renew-failed', (e) => logger.info({ ...lease(e), reason: e.reason }, 'lease renewal refused'));
}
