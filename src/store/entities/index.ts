import { ApiKeyEntity } from './api-key.entity';
import { RunEventEntity } from './run-event.entity';
import { RunEntity } from './run.entity';
import { TaskEntity } from './task.entity';
import { WorkflowEntity } from './workflow.entity';

export { ApiKeyEntity, RunEventEntity, RunEntity, TaskEntity, WorkflowEntity };
export const ENTITIES = [WorkflowEntity, RunEntity, TaskEntity, RunEventEntity, ApiKeyEntity];
