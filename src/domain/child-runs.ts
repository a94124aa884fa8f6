/**
 * Child workflows, pure: a step of type `workflow` starts a child run of the same tenant when it is
 * ready, inside the transition that readies it (DESIGN "Work can appear during a run"), and waits
 * for it durably: its attempt is RUNNING with `childRunId` set, holding no lease and no slot.
 *
 * - **Start.** `planLaunch` decides, for a ready `workflow` task, what the transition does: start
 *   the child (its run, tasks and first events, written with the parent's changes), refuse it (the
 *   step fails at once, not retried: a bad input, an unknown workflow, MAX_WORKFLOW_DEPTH), or wait
 *   (the tenant holds TENANT_MAX_ACTIVE_RUNS: the task stays QUEUED and is looked at again after
 *   {@link CHILD_QUOTA_WAIT_MS}). What it needs beyond the run (the child's workflow, the tenant's
 *   room) comes through {@link ChildContext}; when that is not loaded yet the kernel loads it and
 *   decides the transaction again ({@link ChildLookupsNeeded}).
 * - **Finish.** `decideChildFinished`: the child's terminal state completes the parent's attempt
 *   (SUCCEEDED: its output; FAILED or CANCELLED: the attempt fails and the step's retry policy
 *   applies, a retry starting a new child).
 * - **Orphans.** When the waiting attempt ends any other way (the parent was cancelled or failed,
 *   the step timed out), the child is cancelled: `decideOrphanCancel`.
 */
import { coerceError, LimitExceededError, TemplateError } from './errors';
import type { Json } from './glossary';
import type { RunRecord, WorkflowRecord } from './model';
import { DEFAULT_PRIORITY } from './priorities';
import { planRun, startEvents, type EventDraft, type InitialTask } from './run-plan';
import { planConcurrencyEntry, type ConcurrencyEntryPlan } from './concurrency';
import type { ExpansionLimits } from './templates';

/** The step type that starts a child run. Built in: it takes no queue. */
export const WORKFLOW_STEP_TYPE = 'workflow';

/** How long a `workflow` step waits before it tries again when its tenant holds TENANT_MAX_ACTIVE_RUNS. */
export const CHILD_QUOTA_WAIT_MS = 1_000;

/** Marks a refusal that a retry cannot fix (the same definitions would nest as deep again). */
export const DEPTH_LIMIT = 'MAX_WORKFLOW_DEPTH';

/** A `workflow` step's input once its templates are resolved. */
export interface ChildStepInput {
  workflow: string;
  /** null: the latest version when the child starts. */
  version: number | null;
  input: Json;
}

/** Which workflow a child would run. */
export interface ChildWorkflowRef {
  tenantId: string;
  name: string;
  version: number | null;
}

export function childRefKey(ref: ChildWorkflowRef): string {
  return `${ref.tenantId}\u0000${ref.name}\u0000${ref.version ?? ''}`;
}

/** What a transition that may start children knows beyond the run itself. Injected: the domain does no I/O. */
export interface ChildContext {
  /** MAX_WORKFLOW_DEPTH: levels of child runs below a run started by startRun. */
  maxDepth: number;
  /** The workflow a child would run: undefined while not loaded (the kernel loads it and decides again), null when the tenant has none. */
  workflow(ref: ChildWorkflowRef): WorkflowRecord | null | undefined;
  /** Takes room for one more active run of the tenant: false at its quota; undefined while not counted (loaded like a workflow). */
  takeRoom(tenantId: string): boolean | undefined;
  /**
   * Takes room for `tasks` more tasks waiting to run (QUEUED, or PENDING items of a fan-out) of the
   * tenant: false past TENANT_MAX_QUEUED_TASKS; undefined while not counted (loaded with the
   * active runs). Absent: no quota. @default none
   */
  takeQueuedRoom?(tenantId: string, tasks: number): boolean | undefined;
  /** A new run or task id (a UUID). */
  newId(): string;
}

/** The transition needs lookups it does not have yet: the kernel loads them, then decides the transaction again. */
export class ChildLookupsNeeded extends Error {
  constructor(
    readonly workflows: readonly ChildWorkflowRef[],
    readonly rooms: readonly string[],
  ) {
    super(`child runs need ${workflows.length} workflow and ${rooms.length} quota lookups first`);
  }
}

/** A child run decided by a transition, before the store numbers its events. */
export interface ChildRunPlan {
  id: string;
  tenantId: string;
  workflowId: string;
  workflowName: string;
  workflowVersion: number;
  input: Json;
  createdAt: Date;
  deadlineAt: Date | null;
  traceparent: string | null;
  parentRunId: string;
  parentTaskId: string;
  depth: number;
  trigger: { kind: 'PARENT' };
  /** A child run is of the middle priority (DEFAULT_PRIORITY); its steps may set their own. */
  priority: number;
  tasks: InitialTask[];
  events: EventDraft[];
  /** Its concurrency groups (src/domain/concurrency.ts), written with it; absent: none. */
  concurrency?: ConcurrencyEntryPlan;
}

export type Launch =
  | { kind: 'start'; child: ChildRunPlan }
  /** The step fails at once, without an attempt, and is not retried. */
  | { kind: 'refuse'; error: string; data: { [key: string]: Json } }
  /** Over the tenant's quota: try again at `availableAt`. */
  | { kind: 'wait'; availableAt: Date }
  /** Lookups missing (recorded in `missing`): decided again once they are loaded. */
  | { kind: 'unknown' };

/** Reads a resolved `workflow` step input; a string says what is wrong with it. */
export function parseChildInput(input: Json): ChildStepInput | string {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return 'the input of a workflow step must be an object { "workflow": "<name>", "version": <n>?, "input": { … }? }';
  }
  const { workflow, version, input: childInput, ...rest } = input;
  const extra = Object.keys(rest);
  if (extra.length) {
    return `the input of a workflow step has unknown field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}; use workflow, version and input`;
  }
  if (typeof workflow !== 'string' || workflow.length === 0) return '"workflow" must name the workflow to start (a non-empty string)';
  if (version !== undefined && version !== null && !(typeof version === 'number' && Number.isInteger(version) && version >= 1)) {
    return `"version" must be a version number (an integer of at least 1) or absent for the latest, not ${JSON.stringify(version)}`;
  }
  return { workflow, version: typeof version === 'number' ? version : null, input: childInput === undefined ? {} : childInput };
}

/**
 * What a ready `workflow` task of `run` does now. `missing` collects the lookups the context did
 * not have (the answer is then `unknown`).
 */
export function planLaunch(
  ctx: ChildContext,
  run: Pick<RunRecord, 'id' | 'tenantId' | 'depth' | 'traceparent'>,
  task: { id: string; key: string; input: Json },
  now: Date,
  missing: { workflows: ChildWorkflowRef[]; rooms: string[] },
  limits?: ExpansionLimits,
  /** MAX_FOREACH_ITEMS, for a child whose root step fans out. */
  maxForEachItems?: number,
): Launch {
  const parsed = parseChildInput(task.input);
  if (typeof parsed === 'string') return { kind: 'refuse', error: parsed, data: { reason: 'BAD_USER_INPUT' } };
  const depth = run.depth + 1;
  if (depth > ctx.maxDepth) {
    const error =
      `LIMIT_EXCEEDED: starting workflow ${JSON.stringify(parsed.workflow)} here would nest a run ${depth} levels deep; ` +
      `the limit is ${ctx.maxDepth} (${DEPTH_LIMIT}): a workflow that starts itself needs a condition that ends the recursion`;
    return { kind: 'refuse', error, data: { reason: 'LIMIT_EXCEEDED', limit: DEPTH_LIMIT, max: ctx.maxDepth, actual: depth } };
  }
  const ref: ChildWorkflowRef = { tenantId: run.tenantId, name: parsed.workflow, version: parsed.version };
  const workflow = ctx.workflow(ref);
  if (workflow === undefined) {
    missing.workflows.push(ref);
    return { kind: 'unknown' };
  }
  if (workflow === null) {
    const what =
      parsed.version === null
        ? `no workflow named ${JSON.stringify(parsed.workflow)}`
        : `no version ${parsed.version} of workflow ${JSON.stringify(parsed.workflow)}`;
    return {
      kind: 'refuse',
      error: `NOT_FOUND: this tenant has ${what}; register it, or fix the step's "workflow"`,
      data: { reason: 'NOT_FOUND', workflow: parsed.workflow },
    };
  }
  let planned: InitialTask[];
  try {
    planned = planRun(workflow.definition, parsed.input, limits, { newId: ctx.newId, maxForEachItems });
  } catch (e: unknown) {
    const fit = e instanceof TemplateError || e instanceof LimitExceededError;
    const error = `The child input does not fit workflow ${workflow.name} version ${workflow.version}: ${fit ? e.message : coerceError(e).message}`;
    return {
      kind: 'refuse',
      error,
      data: e instanceof LimitExceededError ? { reason: 'LIMIT_EXCEEDED', limit: e.data.limit as string } : { reason: 'BAD_USER_INPUT' },
    };
  }
  // A child of a workflow with concurrency keys enters its groups as a started run does: it waits,
  // every step PENDING, until its group admits it (after this transition commits).
  let entry: ConcurrencyEntryPlan | undefined;
  try {
    entry = planConcurrencyEntry(workflow, parsed.input, planned);
    if (entry.run) planned = planRun(workflow.definition, parsed.input, limits, { newId: ctx.newId, maxForEachItems, hold: true });
    entry = planConcurrencyEntry(workflow, parsed.input, planned);
  } catch (e: unknown) {
    const error = `The child input does not fit workflow ${workflow.name} version ${workflow.version}: ${coerceError(e).message}`;
    return { kind: 'refuse', error, data: { reason: 'BAD_USER_INPUT' } };
  }
  const room = ctx.takeRoom(run.tenantId);
  if (room === undefined) {
    missing.rooms.push(run.tenantId);
    return { kind: 'unknown' };
  }
  if (!room) return { kind: 'wait', availableAt: new Date(now.getTime() + CHILD_QUOTA_WAIT_MS) };
  // The plan made the ids (a root forEach step's items name their fan task) and copied each step's timeoutMs.
  const tasks = planned;
  const timeoutMs = workflow.definition.timeoutMs;
  return {
    kind: 'start',
    child: {
      id: ctx.newId(),
      tenantId: run.tenantId,
      workflowId: workflow.id,
      workflowName: workflow.name,
      workflowVersion: workflow.version,
      input: parsed.input,
      createdAt: now,
      deadlineAt: timeoutMs ? new Date(now.getTime() + timeoutMs) : null,
      // The child's spans join the parent's trace.
      traceparent: run.traceparent,
      parentRunId: run.id,
      parentTaskId: task.id,
      depth,
      trigger: { kind: 'PARENT' },
      priority: DEFAULT_PRIORITY,
      tasks,
      events: startEvents(tasks),
      ...(entry.run || entry.tasks.length ? { concurrency: entry } : {}),
    },
  };
}

/** The waiting attempt's outcome once its child run ended; null when the task no longer waits for this child. */
export type ChildOutcome =
  | { kind: 'succeeded'; taskId: string; output: Json; childRunId: string }
  | { kind: 'failed'; taskId: string; error: string; retryable: boolean; reason: string; childRunId: string };

export function decideChildFinished(
  task: { id: string; status: string; childRunId: string | null } | undefined,
  child: Pick<RunRecord, 'id' | 'status' | 'output' | 'error'>,
): ChildOutcome | null {
  if (!task || task.status !== 'RUNNING' || task.childRunId !== child.id) return null;
  switch (child.status) {
    case 'SUCCEEDED':
      return { kind: 'succeeded', taskId: task.id, output: child.output, childRunId: child.id };
    case 'FAILED':
    case 'CANCELLED': {
      // A child refused for depth would be refused again on every retry, level after level
      // (3 attempts at each of 16 levels is 3^16 runs): that failure is final.
      const final = (child.error ?? '').includes(DEPTH_LIMIT);
      return {
        kind: 'failed',
        taskId: task.id,
        error: `Child run ${child.id} ${child.status}: ${child.error ?? 'no error recorded'}`,
        retryable: !final,
        reason: child.status === 'FAILED' ? 'CHILD_FAILED' : 'CHILD_CANCELLED',
        childRunId: child.id,
      };
    }
    default:
      return null;
  }
}

/**
 * Whether an unfinished child run is an orphan: the parent's task no longer waits for it (it
 * finished, failed, was cancelled or retried with a new child). A task that stopped waiting for a
 * child never waits for it again (a new attempt starts a new child), so the answer is final.
 */
export function isOrphan(parentTask: { status: string; childRunId: string | null } | undefined, childRunId: string): boolean {
  return !parentTask || parentTask.status !== 'RUNNING' || parentTask.childRunId !== childRunId;
}

/** A run with `workflow` steps ready to start their children (a run just created, a delay that ended): the transition that starts them. */
export function decideLaunch(
  run: Pick<RunRecord, 'status'>,
  tasks: readonly { type: string; status: string; availableAt: Date | null }[],
  now: Date,
): { kind: 'launchChildren' } | null {
  if (run.status !== 'PENDING' && run.status !== 'RUNNING') return null;
  const ready = tasks.some((t) => t.type === WORKFLOW_STEP_TYPE && t.status === 'QUEUED' && (t.availableAt === null || t.availableAt <= now));
  return ready ? { kind: 'launchChildren' } : null;
}
