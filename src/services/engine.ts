import type { Clock } from '../domain/clock';
import { LeaseLostError, NotFoundError, RunCancelledError } from '../domain/errors';
import type { Json } from '../domain/glossary';
import { applyTransition, isTerminalRun, type TaskState, type Transition, type TransitionResult } from '../domain/run-machine';
import type { EventBus } from '../events/event-bus';
import { insertEvents, numberEvents, type RunEventRow } from '../store/events.store';
import { findRunsByIds, lockRun, lockRunOfTask, saveRuns, type RunRow } from '../store/runs.store';
import type { Database, Sql } from '../store/sql';
import { claimReadyTasks, dueTimers, nextWakeAt, saveTasks, setTaskTimer, tasksOfLockedRun, type TaskRow } from '../store/tasks.store';
import { addResult, emptyEffects, publishEffects, type EngineHooks, type Effects } from './effects';
import type { WorkflowsService } from './workflows.service';

export interface EngineDeps {
  db: Database;
  workflows: WorkflowsService;
  bus: EventBus;
  clock: Clock;
  hooks: EngineHooks;
  onPublishError: (e: unknown) => void;
  /** Jitter for retry backoff. @default Math.random */
  random?: () => number;
}

/** How a transition found its run: through one of its tasks, or directly. */
type Target = { taskId: string; tenantId: string | null } | { runId: string; tenantId: string };

/**
 * Every state change of runs and tasks after a run starts: claims, completions, failures,
 * cancellation and timers. Each one locks its run row, applies the pure state machine, writes the
 * result and its events in one transaction, then publishes.
 */
export class Engine {
  private readonly random: () => number;

  constructor(private readonly deps: EngineDeps) {
    this.random = deps.random ?? Math.random;
  }

  /**
   * Claims up to `limit` ready tasks of a queue (null: built-in steps) for `workerId`, each with
   * a new fencing token; their runs become RUNNING.
   */
  async claim(opts: { tenantId: string | null; queue: string | null; limit: number; workerId: string }): Promise<TaskRow[]> {
    if (opts.limit <= 0) return [];
    const now = this.deps.clock.now();
    const effects = emptyEffects();
    const started: RunRow[] = [];
    const claimed = await this.deps.db.transaction(async (sql) => {
      const tasks = await claimReadyTasks(sql, { ...opts, now });
      if (tasks.length === 0) return tasks;
      const byRun = new Map<string, TaskRow[]>();
      for (const t of tasks) byRun.set(t.runId, [...(byRun.get(t.runId) ?? []), t]);
      // Already locked by the claim (FOR UPDATE OF t, r).
      const runRows = await findRunsByIds(sql, null, [...byRun.keys()]);
      for (const run of runRows) {
        const cursor = { runId: run.id, tenantId: run.tenantId, workflowName: run.workflowName, lastSeq: run.lastSeq };
        const drafts: Parameters<typeof numberEvents>[1][number][] = [];
        if (run.status === 'PENDING') {
          run.status = 'RUNNING';
          run.startedAt = now;
          started.push(run);
          drafts.push({ type: 'run.status', status: 'RUNNING', taskId: null, taskKey: null, attempt: null, data: null });
        }
        for (const t of byRun.get(run.id)!) {
          drafts.push({ type: 'task.status', status: 'RUNNING', taskId: t.id, taskKey: t.key, attempt: t.attempt, data: { workerId: opts.workerId } });
        }
        effects.events.push(...numberEvents(cursor, drafts, now));
        run.lastSeq = cursor.lastSeq;
      }
      await saveRuns(sql, runRows);
      await insertEvents(sql, effects.events);
      return tasks;
    });
    await this.publish(effects);
    for (const run of started) this.deps.hooks.emit('run:started', { tenantId: run.tenantId, runId: run.id, workflow: run.workflowName });
    for (const t of claimed) {
      this.deps.hooks.emit('task:claimed', {
        tenantId: t.tenantId,
        runId: t.runId,
        taskId: t.id,
        queue: t.queue,
        waitedMs: t.queuedAt ? now.getTime() - t.queuedAt.getTime() : null,
      });
    }
    return claimed;
  }

  /** Records a successful attempt. Accepted only with the task's current fencing token. */
  async complete(taskId: string, fence: string, output: Json, tenantId: string | null = null): Promise<TaskRow> {
    return this.finishAttempt(taskId, fence, tenantId, { kind: 'succeeded', taskId, output });
  }

  /** Records a failed attempt: retried after backoff while the policy allows, else the run fails. */
  async fail(taskId: string, fence: string, error: string, retryable: boolean, tenantId: string | null = null): Promise<TaskRow> {
    return this.finishAttempt(taskId, fence, tenantId, { kind: 'failed', taskId, error, retryable });
  }

  /** Cancels a run: every task not finished is CANCELLED; running attempts' completions are refused. */
  async cancel(tenantId: string, runId: string, reason = 'Cancelled by request'): Promise<RunRow> {
    const { run } = await this.inRun({ runId, tenantId }, (_run, _tasks) => (isTerminalRun(_run.status) ? null : { kind: 'cancel', reason }));
    return run;
  }

  /** Puts a durable timer on a running attempt (a `sleep` step); false when the attempt is no longer held. */
  async setTimer(taskId: string, fence: string, at: Date): Promise<boolean> {
    return setTaskTimer(this.deps.db, taskId, fence, at);
  }

  /** Completes the attempts whose timers are due; replicas racing on one timer complete it once. */
  async fireDueTimers(limit = 100): Promise<number> {
    const due = await dueTimers(this.deps.db, this.deps.clock.now(), limit);
    let fired = 0;
    for (const timer of due) {
      try {
        await this.inRun({ taskId: timer.id, tenantId: null }, (_run, tasks) => {
          const task = tasks.find((t) => t.id === timer.id);
          // Another replica fired it, or the run was cancelled meanwhile: nothing to do.
          if (!task || task.status !== 'RUNNING' || task.fence !== timer.fence || task.timerAt === null) return null;
          return { kind: 'succeeded', taskId: task.id, output: task.input };
        });
        fired++;
      } catch (e: unknown) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    return fired;
  }

  /** When the scheduler next has something to do: the earliest timer or delayed built-in task. */
  async nextWakeAt(): Promise<Date | null> {
    return nextWakeAt(this.deps.db, this.deps.clock.now());
  }

  private async finishAttempt(taskId: string, fence: string, tenantId: string | null, transition: Transition): Promise<TaskRow> {
    const { tasks } = await this.inRun({ taskId, tenantId }, (run, tasks) => {
      const task = tasks.find((t) => t.id === taskId)!;
      if (task.fence !== fence) throw new LeaseLostError(taskId, fence);
      if (task.status === 'CANCELLED' || run.status === 'CANCELLED') throw new RunCancelledError(run.id, taskId);
      // Completing twice with the current token is idempotent: the first result stands.
      if (task.status === 'SUCCEEDED' && transition.kind === 'succeeded') return null;
      if (task.status !== 'RUNNING') throw new LeaseLostError(taskId, fence);
      return transition;
    });
    return tasks.find((t) => t.id === taskId)!;
  }

  /**
   * Locks the run, loads its tasks, asks `decide` for a transition (null: none), applies it and
   * writes everything in one transaction; publishes after commit.
   */
  private async inRun(
    target: Target,
    decide: (run: RunRow, tasks: TaskRow[]) => Transition | null,
  ): Promise<{ run: RunRow; tasks: TaskRow[] }> {
    const now = this.deps.clock.now();
    const effects = emptyEffects();
    let finished: RunRow | null = null;
    const finishedTasks: TaskState[] = [];
    const out = await this.deps.db.transaction(async (sql) => {
      effects.events = [];
      effects.ready = [];
      finished = null;
      finishedTasks.length = 0;
      const run = 'runId' in target ? await lockRun(sql, target.tenantId, target.runId) : await lockRunOfTask(sql, target.taskId);
      if (!run || (target.tenantId !== null && run.tenantId !== target.tenantId)) {
        throw 'runId' in target ? new NotFoundError('Run', target.runId) : new NotFoundError('Task', target.taskId);
      }
      const tasks = await tasksOfLockedRun(sql, run.id);
      const transition = decide(run, tasks);
      if (!transition) return { run, tasks };
      const definition = (await this.deps.workflows.definitions([run.workflowId], sql)).get(run.workflowId);
      if (!definition) throw new NotFoundError('Workflow', run.workflowId);
      const result = applyTransition({ definition, run, tasks, now, random: this.random }, transition);
      const written = await this.write(sql, run, tasks, result, now, effects);
      if (result.run && isTerminalRun(result.run.status)) finished = written.run;
      for (const t of result.tasks) if (t.status === 'SUCCEEDED' || t.status === 'FAILED') finishedTasks.push(t);
      return written;
    });
    await this.publish(effects);
    for (const t of finishedTasks) this.deps.hooks.emit('task:finished', { tenantId: out.run.tenantId, runId: out.run.id, taskId: t.id, status: t.status });
    const f = finished as RunRow | null;
    if (f) {
      this.deps.hooks.emit('run:finished', {
        tenantId: f.tenantId,
        runId: f.id,
        workflow: f.workflowName,
        status: f.status,
        durationMs: f.finishedAt && f.startedAt ? f.finishedAt.getTime() - f.startedAt.getTime() : null,
      });
    }
    return out;
  }

  private async write(
    sql: Sql,
    run: RunRow,
    tasks: TaskRow[],
    result: TransitionResult,
    now: Date,
    effects: Effects,
  ): Promise<{ run: RunRow; tasks: TaskRow[] }> {
    const cursor = { runId: run.id, tenantId: run.tenantId, workflowName: run.workflowName, lastSeq: run.lastSeq };
    const events: RunEventRow[] = numberEvents(cursor, result.events, now);
    const nextRun: RunRow = { ...run, ...(result.run ?? {}), lastSeq: cursor.lastSeq };
    await saveTasks(sql, result.tasks);
    await saveRuns(sql, [nextRun]);
    await insertEvents(sql, events);
    addResult(effects, events, result);
    const changed = new Map(result.tasks.map((t) => [t.id, t]));
    return { run: nextRun, tasks: tasks.map((t) => ({ ...t, ...(changed.get(t.id) ?? {}) })) };
  }

  private async publish(effects: Effects): Promise<void> {
    await publishEffects(this.deps.bus, effects, this.deps.onPublishError);
  }
}
