import { decideChildFinished, decideLaunch, type ChildOutcome } from '../../domain/child-runs';
import { decideCancel } from '../../domain/decisions';
import { NotFoundError } from '../../domain/errors';
import { checkJson } from '../../domain/json-limits';
import type { RunRecord } from '../../domain/model';
import type { Transition } from '../../domain/run-machine';
import { finishedChildrenAwaited, orphanedChildren, runsWithDueLaunches } from '../../store/children.store';
import type { Database } from '../../store/sql';
import type { WorkflowsService } from '../workflows.service';
import type { Batch } from './batch';
import type { Loader, Staging, TransitionKernel } from './kernel';
import { oneRun } from './loaders';

export interface ChildRunsDeps {
  db: Database;
  workflows: WorkflowsService;
  kernel: TransitionKernel;
  limits: { maxJsonDepth: number; maxOutputBytes: number };
  onError: (e: unknown) => void;
}

/**
 * The chained transitions of child runs. Each is its own transition under ONE run lock (the
 * parent's, or the child's), never both: a child finishing and its parent being cancelled can
 * run at once without a lock-order deadlock, and each decision reads the other side's state,
 * which is final once it holds (a finished child never runs again: retryRun refuses child runs;
 * a task that stopped waiting for a child never waits for it again).
 *
 * Exactly once and crash-safe: the facts are durable in the committed rows (a RUNNING task with
 * `childRunId` whose child is finished; an unfinished child whose parent task stopped waiting; a
 * ready `workflow` task), so the follow-up right after a commit is only the fast path; the sweep
 * (every timer pass, at least every poll interval) finds what a crash or a failed follow-up left,
 * and the decisions under the lock apply each fact once (a repeat finds nothing to do).
 */
export class ChildRuns {
  constructor(private readonly deps: ChildRunsDeps) {}

  /** After a commit: start the children of runs just created, complete parents of finished children, cancel orphans. Never throws. */
  async afterCommit(batch: Batch): Promise<void> {
    for (const runId of batch.launch) await this.quietly(() => this.launch(runId));
    for (const run of batch.finishedRuns) if (run.parentRunId) await this.quietly(() => this.childFinished(run));
    for (const childId of batch.orphanedChildren) await this.quietly(() => this.cancelOrphan(childId));
  }

  /** What the follow-ups missed (a crash between commit and follow-up, a database error): how many transitions it applied. */
  async sweep(now: Date, limit: number): Promise<number> {
    const { db } = this.deps;
    let applied = 0;
    for (const runId of await runsWithDueLaunches(db, now, limit)) applied += Number(await this.launch(runId));
    for (const child of await finishedChildrenAwaited(db, limit)) applied += Number(await this.childFinished(child));
    for (const childId of await orphanedChildren(db, limit)) applied += Number(await this.cancelOrphan(childId));
    return applied;
  }

  /** Starts the children of a run's ready `workflow` steps. */
  launch(runId: string): Promise<boolean> {
    return this.onRun(runId, (s, locked) => {
      const transition = decideLaunch(locked.run, locked.tasks, s.now);
      return transition && s.apply(locked.run.id, transition) && true;
    });
  }

  /** A child run ended: the parent's waiting attempt takes its result. */
  childFinished(child: RunRecord): Promise<boolean> {
    if (!child.parentRunId) return Promise.resolve(false);
    return this.onRun(child.parentRunId, (s, locked) => {
      const outcome = decideChildFinished(
        locked.tasks.find((t) => t.id === child.parentTaskId),
        child,
      );
      return outcome !== null && s.apply(locked.run.id, this.transitionOf(outcome)) && true;
    });
  }

  /** An unfinished child whose parent's attempt stopped waiting for it is cancelled (its own children follow, in their turn). */
  cancelOrphan(childId: string): Promise<boolean> {
    return this.onRun(childId, (s, locked) => {
      const reason = `Cancelled with its parent: run ${locked.run.parentRunId} no longer waits for it (the parent was cancelled or failed, or its step timed out)`;
      const transition = decideCancel(locked.run, reason);
      return transition !== null && s.apply(locked.run.id, transition) && true;
    });
  }

  /** A child's output goes through the limits a worker's output does. */
  private transitionOf(outcome: ChildOutcome): Transition {
    if (outcome.kind === 'failed') return outcome;
    try {
      checkJson(outcome.output, {
        what: 'the child run output',
        maxDepth: this.deps.limits.maxJsonDepth,
        maxBytes: this.deps.limits.maxOutputBytes,
        bytesLimit: 'MAX_OUTPUT_BYTES',
      });
      return outcome;
    } catch (e: unknown) {
      const error = `OUTPUT_TOO_LARGE: ${e instanceof Error ? e.message : String(e)}`;
      return { kind: 'failed', taskId: outcome.taskId, error, retryable: false, reason: 'OUTPUT_TOO_LARGE', childRunId: outcome.childRunId };
    }
  }

  private async onRun(runId: string, decide: (s: Staging, locked: NonNullable<ReturnType<Staging['run']>>) => boolean | null): Promise<boolean> {
    const load: Loader = oneRun(this.deps.workflows, runId, null);
    try {
      const { value } = await this.deps.kernel.run(load, (s) => {
        const [locked] = s.runs;
        return locked ? Boolean(decide(s, locked)) : false;
      });
      return value;
    } catch (e: unknown) {
      if (e instanceof NotFoundError) return false;
      throw e;
    }
  }

  private async quietly(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e: unknown) {
      // The sweep applies it later.
      this.deps.onError(e);
    }
  }
}
