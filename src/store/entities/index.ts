import { ApiKeyEntity } from './api-key.entity';
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
];
