import DataLoader from 'dataloader';
import type { AuthService } from '../services/auth.service';
import type { Engine } from '../services/engine';
import type { RunEventsService } from '../services/run-events.service';
import type { RunsService } from '../services/runs.service';
import type { TasksService } from '../services/tasks.service';
import type { WorkflowsService } from '../services/workflows.service';
import type { AttemptRow } from '../store/attempts.store';
import type { RunRow } from '../store/runs.store';
import type { TaskRow } from '../store/tasks.store';
import type { WorkflowRow } from '../store/workflows.store';

/** Built once in the composition root; resolvers reach services only through the context. */
export interface Services {
  workflows: WorkflowsService;
  runs: RunsService;
  runEvents: RunEventsService;
  engine: Engine;
  auth: AuthService;
  tasks: TasksService;
}

export interface Loaders {
  attemptsByTask: DataLoader<string, AttemptRow[]>;
  taskById: DataLoader<string, TaskRow | undefined>;
  runById: DataLoader<string, RunRow | undefined>;
  tasksByRun: DataLoader<string, TaskRow[]>;
  workflowById: DataLoader<string, WorkflowRow | undefined>;
}

export interface Context {
  tenantId: string;
  services: Services;
  loaders: Loaders;
  /** Aborted when the client goes away before the response is sent (ends long polls). */
  signal?: AbortSignal;
}

/** Per request (per subscription event batch): DataLoader caches must not outlive a request. */
export function createLoaders(services: Services, tenantId: string): Loaders {
  return {
    attemptsByTask: new DataLoader(async (taskIds) => {
      const byTask = await services.runs.attemptsOf(tenantId, taskIds);
      return taskIds.map((id) => byTask.get(id) ?? []);
    }),
    taskById: new DataLoader(async (taskIds) => {
      const byId = await services.runs.tasksByIds(tenantId, taskIds);
      return taskIds.map((id) => byId.get(id));
    }),
    runById: new DataLoader(async (ids) => {
      const rows = await services.runs.byIds(tenantId, ids);
      return ids.map((id) => rows.get(id));
    }),
    tasksByRun: new DataLoader(async (runIds) => {
      const byRun = await services.runs.tasksOf(tenantId, runIds);
      return runIds.map((id) => byRun.get(id) ?? []);
    }),
    workflowById: new DataLoader(async (ids) => {
      const rows = await services.workflows.byIds(ids);
      // A workflow id reached through a run of this tenant; still, never hand out another tenant's.
      return ids.map((id) => {
        const row = rows.get(id);
        return row && row.tenantId === tenantId ? row : undefined;
      });
    }),
  };
}

export function createContext(services: Services, tenantId: string, signal?: AbortSignal): Context {
  return { tenantId, services, loaders: createLoaders(services, tenantId), signal };
}
