import { ApiKeyEntity } from './api-key.entity';
import { ConcurrencyGroupEntity, QueueLimitEntity, RunConcurrencyEntity, TaskConcurrencyEntity } from './concurrency.entity';
import { QueuePollEntity } from './queue-poll.entity';
import { RateLimitEntity } from './rate-limit.entity';
import { RunEventEntity } from './run-event.entity';
import { RunEntity } from './run.entity';
import { ScheduleFireEntity } from './schedule-fire.entity';
import { ScheduleEntity } from './schedule.entity';
import { SignalEntity } from './signal.entity';
import { TaskAttemptEntity } from './task-attempt.entity';
import { TaskEntity } from './task.entity';
import { WorkflowEntity } from './workflow.entity';
import { EventEntity } from './event.entity';
import { WebhookSecretEntity } from './webhook-secret.entity';
import { WorkflowTriggerEntity } from './workflow-trigger.entity';

export { ConcurrencyGroupEntity, QueueLimitEntity, RunConcurrencyEntity, TaskConcurrencyEntity };
export {
  ApiKeyEntity,
  QueuePollEntity,
  RateLimitEntity,
  RunEventEntity,
  RunEntity,
  SignalEntity,
  TaskAttemptEntity,
  TaskEntity,
  WorkflowEntity,
  EventEntity,
  WebhookSecretEntity,
  WorkflowTriggerEntity,
  ScheduleEntity,
  ScheduleFireEntity,
};
/** This feature's tables (concurrency keys, queue limits). */
const CONCURRENCY_ENTITIES = [RunConcurrencyEntity, ConcurrencyGroupEntity, QueueLimitEntity, TaskConcurrencyEntity];
export const ENTITIES = [
  WorkflowEntity,
  RunEntity,
  TaskEntity,
  TaskAttemptEntity,
  RunEventEntity,
  ApiKeyEntity,
  SignalEntity,
  QueuePollEntity,
  EventEntity,
  WebhookSecretEntity,
  WorkflowTriggerEntity,
  RateLimitEntity,
  ScheduleEntity,
  ScheduleFireEntity,
  ...CONCURRENCY_ENTITIES,
];
