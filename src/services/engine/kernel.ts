import { randomBytes, randomUUID } from 'node:crypto';
import { ChildLookupsNeeded, WORKFLOW_STEP_TYPE } from '../../domain/child-runs';
import { applyTransition, isTerminalRun, type Transition } from '../../domain/run-machine';
import type { WorkflowDefinition } from '../../domain/glossary';
import type { ExpansionLimits } from '../../domain/templates';
import type { RunRecord, SignalRecord, TaskRecord } from '../../domain/model';
import type { Clock } from '../../domain/clock';
import { numberEvents } from '../../store/events.store';
import type { Database, Sql } from '../../store/sql';
import { writeSignals } from '../../store/signals.store';
import { insertRun } from '../../store/runs.store';
import { writeTransition } from '../../store/transition.store';
import { deleteTaskGroups, enterGroups, insertTaskGroups } from '../../store/concurrency.store';
import { gatedTaskMoves } from '../../domain/concurrency';
import { ChildLookups, DEFAULT_CHILD_LIMITS, type ChildLimits } from './child-lookups';
import { newBatch, type Batch } from './batch';
import type { Announcer } from './announcer';
import type { EagerDispatch } from './eager-dispatch';

/** A run under its row lock, with the tasks the transition needs and its definition. */
export interface LockedRun {
  run: RunRecord;
  tasks: TaskRecord[];
  definition: WorkflowDefinition;
  /** The run's pending signals, oldest first, when the loader read them (signal transitions). */
  signals?: SignalRecord[];
}

/** A lease secret for a claim made in memory: 128 random bits, base64url (22 characters), as the claim statement makes them. */
export const newSecret = (): string => randomBytes(16).toString('base64url');

/** How a transition finds and locks its runs (by task, by run, or by the claim statement). */
export type Loader = (sql: Sql, now: Date) => Promise<LockedRun[]>;

/**
 * The locked runs of one transaction, as `decide` sees them: it reads their current state and
 * applies transitions, each one on the state the previous one left.
 */
export class Staging {
  private readonly byRun = new Map<string, LockedRun>();
  private readonly runOfTask = new Map<string, string>();

  constructor(
    private readonly batch: Batch,
    locked: readonly LockedRun[],
    private readonly random: () => number,
    /** Lease lengths of claims: the claim statement's (its caller's choice) and eager ones (the executors'). */
    private readonly leaseMs: { claimed: number; eager: number },
    private readonly limits: ExpansionLimits | undefined,
    private readonly maxForEachItems: number | undefined,
    /** The workflows and quota room child runs need, read in this transaction. */
    private readonly lookups: ChildLookups,
  ) {
    for (const l of locked) {
      this.byRun.set(l.run.id, l);
      for (const t of l.tasks) this.runOfTask.set(t.id, l.run.id);
    }
  }

  /** The instant of the transaction's transitions. */
  get now(): Date {
    return this.batch.now;
  }

  get runs(): LockedRun[] {
    return [...this.byRun.values()];
  }

  run(runId: string): LockedRun | undefined {
    return this.byRun.get(runId);
  }

  /** The locked run holding a task, with the task in its current state. */
  ofTask(taskId: string): { locked: LockedRun; task: TaskRecord } | undefined {
    const runId = this.runOfTask.get(taskId);
    const locked = runId === undefined ? undefined : this.byRun.get(runId);
    const task = locked?.tasks.find((t) => t.id === taskId);
    return locked && task ? { locked, task } : undefined;
  }

  /** Applies to a task's run what `decide` says of the task (null: nothing); false when it said nothing. */
  applyToTask(taskId: string, decide: (task: TaskRecord) => Transition | null): boolean {
    const found = this.ofTask(taskId);
    const transition = found && decide(found.task);
    if (!found || !transition) return false;
    this.apply(found.locked.run.id, transition);
    return true;
  }

  /** Writes a signal sent to a run with the batch (consumed already when `consumedByTaskId` is set). */
  sendSignal(signal: Omit<SignalRecord, 'seq'>): void {
    this.batch.signalsSent.push(signal);
  }

  /** Marks a pending signal consumed by a task's wait, with the batch; it leaves the run's pending list. */
  consumeSignal(runId: string, signalId: string, taskId: string): void {
    this.batch.signalsConsumed.push({ id: signalId, taskId, consumedAt: this.batch.now });
    const locked = this.byRun.get(runId);
    if (locked?.signals) locked.signals = locked.signals.filter((s) => s.id !== signalId);
  }

  /** Runs locked after `decide` (an admission in the same transaction): later transitions may apply to them. */
  adopt(locked: readonly LockedRun[]): void {
    for (const l of locked) {
      if (this.byRun.has(l.run.id)) continue;
      this.byRun.set(l.run.id, l);
      for (const t of l.tasks) this.runOfTask.set(t.id, l.run.id);
    }
  }

  /** Whether a transition of this batch changed the run. */
  changed(runId: string): boolean {
    return this.batch.runs.has(runId);
  }

  /**
   * Applies one transition to a run through the state machine and stages what it decided: the
   * writes, the numbered events, the attempts begun and ended, the leases to settle and what to
   * announce. Returns the run's new state.
   */
  apply(runId: string, transition: Transition): LockedRun {
    const current = this.byRun.get(runId);
    if (!current) throw new Error(`run ${runId} is not locked by this transaction`);
    const { run, tasks, definition } = current;
    const b = this.batch;
    const now = b.now;
    const children = this.lookups.context(run);
    const result = applyTransition(
      { definition, run, tasks, now, random: this.random, limits: this.limits, newSecret, newId: randomUUID, maxForEachItems: this.maxForEachItems, children },
      transition,
    );

    const cursor = { runId: run.id, tenantId: run.tenantId, workflowName: run.workflowName, lastSeq: run.lastSeq };
    b.events.push(...numberEvents(cursor, result.events, now));
    const nextRun: RunRecord = { ...run, ...(result.run ?? {}), lastSeq: cursor.lastSeq };
    const changed = new Map(result.tasks.map((t) => [t.id, t]));
    const nextTasks = tasks.map((t): TaskRecord => {
      const c = changed.get(t.id);
      return c ? { ...t, ...c } : t;
    });
    const byId = new Map(nextTasks.map((t) => [t.id, t]));
    for (const c of result.created) {
      // An item task sorts with its fan task: same position, then its index.
      const { stepPriority, ...fields } = c;
      const created: TaskRecord = {
        ...fields,
        tenantId: run.tenantId,
        runId: run.id,
        position: byId.get(c.parentTaskId!)?.position ?? 0,
        createdAt: now,
        priority: stepPriority ?? run.priority,
        rateLimitedUntil: null,
      };
      nextTasks.push(created);
      byId.set(created.id, created);
      b.created.set(created.id, created);
      this.runOfTask.set(created.id, run.id);
    }
    // Rate-limited tasks made ready here (promoted, retried, fanned out): claims look for them at once.
    for (const id of [...changed.keys(), ...result.created.map((c) => c.id)]) {
      const t = byId.get(id);
      if (t?.status === 'QUEUED' && t.rateLimitKey !== null) b.rateLimitedQueued = true;
    }

    b.runs.set(run.id, nextRun);
    // A task created earlier in this batch is still to be inserted: it is inserted as it is now.
    for (const id of changed.keys()) (b.created.has(id) ? b.created : b.tasks).set(id, byId.get(id)!);
    for (const a of result.attemptsStarted) b.attemptsStarted.push({ ...a, runId: run.id, tenantId: run.tenantId, startedAt: now });
    for (const a of result.attemptsEnded) {
      b.attemptsEnded.push({ ...a, finishedAt: now });
      const lease = { taskId: a.taskId, fence: a.fence, tenantId: run.tenantId };
      (byId.get(a.taskId)?.status === 'CANCELLED' ? b.revoke : b.release).push(lease);
      // A slot freed: pollers held back by a queue limit (setQueueLimit) or a step's concurrency look again.
      const ended = byId.get(a.taskId);
      if (ended && (ended.queue !== null || definition.steps.some((s) => s.key === ended.key && s.concurrency))) b.ready.push(ended.queue);
    }
    // A `workflow` step's attempt waits for its child run: no lease, no claim to hand over.
    const waiting = new Set(result.childRuns.map((c) => c.parentTaskId));
    for (const c of result.childRuns) {
      b.childRuns.push(c);
      if (c.deadlineAt) b.wakeAt.push(c.deadlineAt.getTime());
      if (c.tasks.some((t) => t.status === 'QUEUED' && t.type === WORKFLOW_STEP_TYPE)) b.launch.push(c.id);
    }
    b.orphanedChildren.push(...result.orphanedChildren);
    for (const a of result.attemptsStarted) {
      const task = byId.get(a.taskId)!;
      if (waiting.has(a.taskId)) {
        if (task.deadlineAt) b.wakeAt.push(task.deadlineAt.getTime());
        continue;
      }
      const eager = transition.kind === 'claim';
      b.claims.push({ task, workerId: a.workerId, eager, leaseMs: eager ? this.leaseMs.eager : this.leaseMs.claimed });
      if (task.deadlineAt) b.wakeAt.push(task.deadlineAt.getTime());
    }
    for (const r of result.ready) {
      b.ready.push(r.queue);
      if (r.availableAt && r.availableAt > now) b.wakeAt.push(r.availableAt.getTime());
    }
    // Ready tasks of this run queued earlier: a claim that ran while this transaction held the
    // run skipped them (SKIP LOCKED), and no other signal would come for them.
    for (const t of nextTasks) if (t.status === 'QUEUED' && (t.availableAt === null || t.availableAt <= now)) b.ready.push(t.queue);
    if (!isTerminalRun(nextRun.status) && nextRun.deadlineAt) b.wakeAt.push(nextRun.deadlineAt.getTime());
    for (const t of result.tasks) {
      if (t.status === 'SUCCEEDED' || t.status === 'FAILED' || t.status === 'SKIPPED') b.finishedTasks.push({ run: nextRun, task: byId.get(t.id)! });
    }
    // Gated tasks that ended leave their groups, those retried enter again: in this transaction.
    const moves = gatedTaskMoves({ name: run.workflowName, definition }, run.input, tasks, result.tasks);
    b.gatedTasksLeft.push(...moves.leave);
    for (const e of moves.enter) b.gatedTasksEntered.push({ ...e, tenantId: run.tenantId });
    if (result.run && run.status === 'PENDING' && result.run.status === 'RUNNING') b.startedRuns.push(nextRun);
    if (result.run && isTerminalRun(result.run.status)) {
      b.finishedRuns.push(nextRun);
      if (definition.concurrency) b.finishedRunsInGroups.push(nextRun.id);
    }

    // Resumed: timers that fell due while paused fire at the next timer pass, later ones on time.
    if (transition.kind === 'resume') for (const t of nextTasks) if (t.timerAt) b.wakeAt.push(Math.max(t.timerAt.getTime(), now.getTime()));
    if (transition.kind === 'awaitSignal') {
      const parked = byId.get(transition.taskId);
      if (parked?.timerAt) b.wakeAt.push(parked.timerAt.getTime());
    }

    const next = { run: nextRun, tasks: nextTasks, definition, signals: current.signals };
    this.byRun.set(run.id, next);
    return next;
  }
}

export interface KernelDeps {
  db: Database;
  clock: Clock;
  announcer: Announcer;
  eager: EagerDispatch | null;
  random: () => number;
  /** Template expansion limits of the transitions. @default DEFAULT_EXPANSION_LIMITS */
  limits?: ExpansionLimits;
  /** MAX_FOREACH_ITEMS. @default DEFAULT_MAX_FOREACH_ITEMS */
  maxForEachItems?: number;
  /** MAX_WORKFLOW_DEPTH and TENANT_MAX_ACTIVE_RUNS for child runs. @default DEFAULT_CHILD_LIMITS */
  children?: ChildLimits;
  /**
   * After a batch committed and was announced: the chained transitions of child runs (start the
   * children of runs just created, complete a parent's step, cancel orphans). Must not throw.
   */
  afterCommit?: (batch: Batch) => Promise<void>;
  /** A transition wrote tasks gated by a step's concurrency (child runs): claims look for them at once. @default none */
  onGatedTasks?: () => void;
  /** A transition started child runs of a ROUND_ROBIN group: claims gate their tasks at once. @default none */
  onRoundRobinRuns?: () => void;
  /** A transition made rate-limited tasks ready, or wrote a child run's: claims look for them at once. @default none */
  onRateLimitedTasks?: () => void;
  /**
   * After `decide`, in the same transaction, before the eager claims and the write: follow-up
   * transitions that must commit with the batch (the next runs of concurrency groups whose
   * holders ended, src/services/engine/run-concurrency.ts `admitInline`). @default none
   */
  inTransaction?: (sql: Sql, staging: Staging, batch: Batch) => Promise<void>;
}

/** Decide passes of one transaction at most: each loads what the previous one lacked (child workflows, quota room). */
const MAX_DECIDE_PASSES = 4;

/**
 * The one way state changes: lock the runs (`load`), let `decide` apply transitions through the
 * state machine, claim eagerly what became ready for this replica's executors, write the batch in
 * one statement, commit, then announce. A transaction retried by the database (serialization,
 * deadlock) starts from a fresh batch, and local slots reserved by the failed try go back first.
 */
export class TransitionKernel {
  constructor(private readonly deps: KernelDeps) {}

  /** @param claimLeaseMs lease of the tasks `decide` records as claimed by the claim statement */
  async run<T>(load: Loader, decide: (s: Staging) => T, claimLeaseMs = 0): Promise<{ value: T; expiries: ReadonlyMap<string, Date> }> {
    const { db, clock, eager } = this.deps;
    const now = clock.now();
    let batch = newBatch(now);
    let value: T;
    try {
      value = await db.transaction(async (sql) => {
        eager?.giveBack(batch);
        const locked = await load(sql, now);
        const lookups = new ChildLookups(this.deps.children ?? DEFAULT_CHILD_LIMITS);
        // A transition that starts a child run needs its workflow and its tenant's room: the
        // first pass says which, they are read under the same locks, and the pass runs again.
        for (let pass = 1; ; pass++) {
          batch = newBatch(now);
          lookups.reset();
          const staging = new Staging(
            batch,
            locked,
            this.deps.random,
            { claimed: claimLeaseMs, eager: eager?.leaseMs ?? 0 },
            this.deps.limits,
            this.deps.maxForEachItems,
            lookups,
          );
          let decided: T;
          try {
            decided = decide(staging);
          } catch (e: unknown) {
            if (!(e instanceof ChildLookupsNeeded) || pass >= MAX_DECIDE_PASSES) throw e;
            await lookups.load(sql, e);
            continue;
          }
          await this.deps.inTransaction?.(sql, staging, batch);
          eager?.claim(batch, staging);
          await write(sql, batch);
          if (batch.childRuns.some((c) => c.concurrency?.tasks.length)) this.deps.onGatedTasks?.();
          if (batch.childRuns.some((c) => c.concurrency?.run?.strategy === 'ROUND_ROBIN')) this.deps.onRoundRobinRuns?.();
          if (batch.rateLimitedQueued || batch.childRuns.some((c) => c.tasks.some((t) => t.rateLimitKey !== null))) this.deps.onRateLimitedTasks?.();
          return decided;
        }
      });
    } catch (e: unknown) {
      eager?.giveBack(batch);
      throw e;
    }
    // Committed: nothing from here on may fail the caller (a grouped completion would apply its
    // results again one by one), so the announcer reports its faults instead of throwing.
    const expiries = await this.deps.announcer.announce(batch);
    await this.deps.afterCommit?.(batch);
    return { value, expiries };
  }

  /** Announces a batch committed outside a transaction (a run's start is one insert). */
  async announce(batch: Batch): Promise<ReadonlyMap<string, Date>> {
    const expiries = await this.deps.announcer.announce(batch);
    await this.deps.afterCommit?.(batch);
    return expiries;
  }
}

async function write(sql: Sql, b: Batch): Promise<void> {
  await writeTransition(sql, {
    tasks: [...b.tasks.values()],
    created: [...b.created.values()],
    runs: [...b.runs.values()],
    events: b.events,
    attemptsStarted: b.attemptsStarted,
    attemptsEnded: b.attemptsEnded,
  });
  await writeSignals(sql, b.signalsSent, b.signalsConsumed);
  await deleteTaskGroups(sql, b.gatedTasksLeft);
  await insertTaskGroups(sql, b.gatedTasksEntered);
  // The child runs the parents' attempts now wait for, each with its tasks and first events in
  // one insert (as startRun's): one transaction, so neither exists without the other.
  for (const c of b.childRuns) {
    const cursor = { runId: c.id, tenantId: c.tenantId, workflowName: c.workflowName, lastSeq: 0 };
    const events = numberEvents(cursor, c.events, b.now);
    const { tasks, events: _drafts, concurrency, ...run } = c;
    // Its concurrency groups before its tasks: none of them is ever claimable ungated.
    if (concurrency) await enterGroups(sql, c.tenantId, c.id, concurrency, b.now);
    const row = await insertRun(
      sql,
      { ...run, idempotencyKey: null, requestHash: null, tags: [], metadata: {}, lastSeq: cursor.lastSeq, status: 'PENDING', startedAt: null },
      tasks,
      events,
      null,
    );
    if (!row) throw new Error(`child run ${c.id} was not inserted`);
    b.createdRuns.push(row);
    b.events.push(...events);
    for (const t of tasks) if (t.status === 'QUEUED') b.ready.push(t.queue);
  }
}
