import { ApiKeyEntity } from './api-key.entity';
import { ConcurrencyGroupEntity, QueueLimitEntity, RunConcurrencyEntity, TaskConcurrencyEntity } from './concurrency.entity';
import { QueuePollEntity } from './queue-poll.entity';
import { RunEventEntity } from './run-event.entity';
import { RunEntity } from './run.entity';
import { SignalEntity } from './signal.entity';
import { TaskAttemptEntity } from './task-attempt.entity';
import { TaskEntity } from './task.entity';
import { WorkflowEntity } from './workflow.entity';

export { ConcurrencyGroupEntity, QueueLimitEntity, RunConcurrencyEntity, TaskConcurrencyEntity };
export { ApiKeyEntity, QueuePollEntity, RunEventEntity, RunEntity, SignalEntity, TaskAttemptEntity, TaskEntity, WorkflowEntity };
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
  ...CONCURRENCY_ENTITIES,
];
