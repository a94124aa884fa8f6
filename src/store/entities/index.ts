import { ApiKeyEntity } from './api-key.entity';
import { QueuePollEntity } from './queue-poll.entity';
import { RunEventEntity } from './run-event.entity';
import { RunEntity } from './run.entity';
import { ScheduleFireEntity } from './schedule-fire.entity';
import { ScheduleEntity } from './schedule.entity';
import { SignalEntity } from './signal.entity';
import { TaskAttemptEntity } from './task-attempt.entity';
import { TaskEntity } from './task.entity';
import { WorkflowEntity } from './workflow.entity';

export { ApiKeyEntity, QueuePollEntity, RunEventEntity, RunEntity, SignalEntity, TaskAttemptEntity, TaskEntity, WorkflowEntity };
export { ScheduleEntity, ScheduleFireEntity };
/** Schedules and their fires (createSchedule). */
const SCHEDULES = [ScheduleEntity, ScheduleFireEntity];
export const ENTITIES = [WorkflowEntity, RunEntity, TaskEntity, TaskAttemptEntity, RunEventEntity, ApiKeyEntity, SignalEntity, QueuePollEntity, ...SCHEDULES];
