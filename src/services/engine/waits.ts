import { randomUUID } from 'node:crypto';
import type { Clock } from '../../domain/clock';
import type { EngineHooks } from '../../domain/hooks';
import type { Json } from '../../domain/glossary';
import type { RunRecord } from '../../domain/model';
import { decideAwaitSignal, decidePause, decideResume, decideSignal } from '../../domain/wait-decisions';
import type { LeaseStore } from '../../leases/lease-store';
import { pendingSignals } from '../../store/signals.store';
import type { WorkflowsService } from '../workflows.service';
import type { Loader, TransitionKernel } from './kernel';
import { oneRun, runsOfTasks } from './loaders';

export interface WaitsDeps {
  workflows: WorkflowsService;
  leases: LeaseStore;
  clock: Clock;
  hooks: EngineHooks;
  kernel: TransitionKernel;
  onPublishError: (e: unknown) => void;
}

/** A loader that also reads (and locks) the pending signals of the runs it locked. */
function withSignals(load: Loader): Loader {
  return async (sql, now) => {
    const locked = await load(sql, now);
    if (locked.length === 0) return locked;
    const signals = await pendingSignals(
      sql,
      locked.map((l) => l.run.id),
    );
    return locked.map((l) => ({ ...l, signals: signals.filter((s) => s.runId === l.run.id) }));
  };
}

/**
 * The waits a caller controls: signals (signalRun; a `signal` step reaching its wait) and
 * pause/resume. Each is a decision (domain/wait-decisions.ts) applied through the transition
 * kernel; a signal's row is written in the same transaction as the transition it causes.
 */
export class Waits {
  constructor(private readonly deps: WaitsDeps) {}

  /** signalRun: delivers `name` to the step waiting for it, or keeps it for the step to come. */
  async signal(tenantId: string, runId: string, name: string, payload: Json): Promise<RunRecord> {
    const { workflows, kernel, hooks } = this.deps;
    const { value } = await kernel.run(withSignals(oneRun(workflows, runId, tenantId)), (s) => {
      const [locked] = s.runs;
      if (!locked) throw new Error('a run loader returned no run');
      const { run, definition, tasks } = locked;
      const decision = decideSignal(run, definition, tasks, name, payload, locked.signals?.length ?? 0);
      const taskId = 'deliver' in decision ? decision.deliver.taskId : null;
      s.sendSignal({
        id: randomUUID(),
        tenantId: run.tenantId,
        runId: run.id,
        name,
        payload,
        createdAt: s.now,
        consumedByTaskId: taskId,
        consumedAt: taskId ? s.now : null,
      });
      const next = 'deliver' in decision ? s.apply(run.id, decision.deliver.transition).run : run;
      return { run: next, consumed: taskId !== null };
    });
    hooks.emit('signal:sent', { tenantId, runId, workflow: value.run.workflowName, name, consumed: value.consumed });
    return value.run;
  }

  /**
   * A `signal` step's attempt reached its wait: it takes the oldest pending signal of its name
   * and succeeds, or parks (RUNNING, no lease, no slot) until one comes or `timeoutAt`. False
   * when the attempt is no longer held.
   */
  async awaitSignal(taskId: string, fence: string, tenantId: string, name: string, timeoutAt: Date | null): Promise<boolean> {
    const { workflows, kernel, leases, onPublishError } = this.deps;
    const { value } = await kernel.run(withSignals(runsOfTasks(workflows, [taskId])), (s) => {
      const found = s.ofTask(taskId);
      if (!found) return false;
      const decision = decideAwaitSignal(found.task, fence, name, timeoutAt, found.locked.signals ?? []);
      if (!decision) return false;
      if ('consume' in decision) s.consumeSignal(found.locked.run.id, decision.consume.id, taskId);
      s.apply(found.locked.run.id, decision.transition);
      return { runId: found.locked.run.id, parked: !('consume' in decision) };
    });
    if (!value) return false;
    // Parked in Postgres, held by no one: no lease to renew while it waits.
    await leases.release([{ taskId, fence, tenantId }]).catch(onPublishError);
    if (value.parked) this.deps.hooks.emit('signal:parked', { taskId, runId: value.runId, name, timeoutAt });
    return true;
  }

  /** pauseRun: idempotent; CONFLICT for a finished run. */
  pause(tenantId: string, runId: string): Promise<RunRecord> {
    return this.onRun(tenantId, runId, 'pause');
  }

  /** resumeRun: a run not paused is returned unchanged; CONFLICT for a finished run. */
  resume(tenantId: string, runId: string): Promise<RunRecord> {
    return this.onRun(tenantId, runId, 'resume');
  }

  private async onRun(tenantId: string, runId: string, what: 'pause' | 'resume'): Promise<RunRecord> {
    const { workflows, kernel, hooks } = this.deps;
    const { value } = await kernel.run(oneRun(workflows, runId, tenantId), (s) => {
      const [locked] = s.runs;
      if (!locked) throw new Error('a run loader returned no run');
      const transition = what === 'pause' ? decidePause(locked.run) : decideResume(locked.run);
      const pausedAt = locked.run.pausedAt;
      return { run: transition ? s.apply(locked.run.id, transition).run : locked.run, changed: transition !== null, pausedAt };
    });
    const { run, changed, pausedAt } = value;
    if (changed && what === 'pause') hooks.emit('run:paused', { tenantId, runId, workflow: run.workflowName });
    if (changed && what === 'resume') {
      hooks.emit('run:resumed', { tenantId, runId, workflow: run.workflowName, pausedMs: pausedAt ? this.deps.clock.now().getTime() - pausedAt.getTime() : 0 });
    }
    return run;
  }
}
