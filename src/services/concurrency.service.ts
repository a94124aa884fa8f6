import type { Clock } from '../domain/clock';
import { concurrencyKeyOf, type RunConcurrencyWait } from '../domain/concurrency';
import { QUEUE_PATTERN } from '../domain/dag';
import { ValidationError } from '../domain/errors';
import type { Json } from '../domain/glossary';
import type { WorkflowRecord } from '../domain/model';
import {
  concurrencyWaits,
  deleteQueueLimit,
  groupKeyOf,
  insertTaskGroups,
  stepGroupKeyOf,
  type GatedTasksHint,
  type TaskGroupRow,
  insertHeldRun,
  queueLimitsOf,
  upsertQueueLimit,
  type QueueLimitRow,
} from '../store/concurrency.store';
import type { Database } from '../store/sql';

/** The most tasks one queue limit allows at once. */
export const MAX_QUEUE_LIMIT = 1_000_000;

/** Where a run of a workflow with `concurrency` enters its group (RunsService.start). */
export interface ConcurrencyEntry {
  /** Writes the groups of the run's tasks of steps with `concurrency`, before the run. @throws ValidationError */
  enterTasks(
    tenantId: string,
    workflow: WorkflowRecord,
    input: Json,
    tasks: readonly { id: string; key: string; parentTaskId: string | null }[],
  ): Promise<void>;
  /** Writes the run's waiting row, before the run; its group, or undefined when the workflow has no `concurrency`. @throws ValidationError for a key the input cannot yield */
  enter(tenantId: string, runId: string, workflow: WorkflowRecord, input: Json, now: Date): Promise<{ tenantId: string; groupKey: string } | undefined>;
}

/**
 * Concurrency keys' entry and reads, and queue limits (setQueueLimit): the API side. The
 * admissions themselves are transitions (src/services/engine/run-concurrency.ts); the queue limit
 * is enforced in the claim transaction (store/concurrency.store.ts `queueRoom`).
 */
export class ConcurrencyService implements ConcurrencyEntry {
  constructor(
    private readonly deps: {
      db: Database;
      clock: Clock;
      /** Told when this replica writes gated tasks (the engine's claims then look for them at once). @default none */
      gatedTasks?: GatedTasksHint;
    },
  ) {}

  async enter(tenantId: string, runId: string, workflow: WorkflowRecord, input: Json, now: Date): Promise<{ tenantId: string; groupKey: string } | undefined> {
    const policy = workflow.definition.concurrency;
    if (!policy) return undefined;
    const key = concurrencyKeyOf(workflow.name, policy, input);
    const groupKey = groupKeyOf(workflow.name, key);
    // A ROUND_ROBIN run's tasks are gated by the claim's turns: this replica's claims look for them at once.
    if (policy.strategy === 'ROUND_ROBIN') this.deps.gatedTasks?.seenRoundRobin();
    await insertHeldRun(this.deps.db, { runId, tenantId, groupKey, key, max: policy.max, strategy: policy.strategy, createdAt: now });
    return { tenantId, groupKey };
  }

  /**
   * The tasks of steps with `concurrency` enter their groups (key over the run input), before the
   * run's insert makes any of them claimable. @throws ValidationError for a key the input cannot yield
   */
  async enterTasks(
    tenantId: string,
    workflow: WorkflowRecord,
    input: Json,
    tasks: readonly { id: string; key: string; parentTaskId: string | null }[],
  ): Promise<void> {
    const rows: TaskGroupRow[] = [];
    for (const step of workflow.definition.steps) {
      if (!step.concurrency) continue;
      const key = concurrencyKeyOf(`${workflow.name}" step "${step.key}`, step.concurrency, input);
      const task = tasks.find((t) => t.key === step.key && t.parentTaskId === null);
      if (task) {
        rows.push({
          taskId: task.id,
          tenantId,
          groupKey: stepGroupKeyOf(workflow.name, step.key, key),
          max: step.concurrency.max,
          strategy: step.concurrency.strategy,
        });
      }
    }
    if (rows.length === 0) return;
    this.deps.gatedTasks?.seen();
    await insertTaskGroups(this.deps.db, rows);
  }

  /** Where these runs wait for a concurrency slot (runs not waiting are left out). */
  waitsOf(tenantId: string, runIds: readonly string[]): Promise<RunConcurrencyWait[]> {
    return concurrencyWaits(this.deps.db, tenantId, runIds);
  }

  async setQueueLimit(tenantId: string, queue: string, maxInFlight: number): Promise<QueueLimitRow> {
    checkQueue(queue);
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > MAX_QUEUE_LIMIT) {
      throw new ValidationError(`"maxInFlight" must be an integer from 1 to ${MAX_QUEUE_LIMIT}; to lift the limit, call clearQueueLimit`, {
        field: 'maxInFlight',
      });
    }
    await upsertQueueLimit(this.deps.db, tenantId, queue, maxInFlight, this.deps.clock.now());
    const [row] = await queueLimitsOf(this.deps.db, tenantId, [queue]);
    return row!;
  }

  /** Lifts a queue's limit; false when it had none. */
  clearQueueLimit(tenantId: string, queue: string): Promise<boolean> {
    checkQueue(queue);
    return deleteQueueLimit(this.deps.db, tenantId, queue);
  }

  queueLimits(tenantId: string, queues: readonly string[] | null): Promise<QueueLimitRow[]> {
    for (const q of queues ?? []) checkQueue(q);
    return queueLimitsOf(this.deps.db, tenantId, queues);
  }
}

function checkQueue(queue: string): void {
  if (!QUEUE_PATTERN.test(queue)) throw new ValidationError('"queue" must be 1 to 128 letters, digits, "_", ".", ":" or "-"', { field: 'queue' });
}
