/**
 * Concurrency keys: how many runs of a workflow are in flight at once per key, and what becomes
 * of a run that finds its key's group full (Hatchet's concurrency strategies). Pure: the checks
 * at registration, the key of a run (CEL over its input) and the admission decision that the
 * engine applies under the group's row lock (src/services/engine/run-concurrency.ts).
 *
 * Terminology:
 * - group: the runs of one workflow (any version) of one tenant whose key evaluates the same.
 * - in flight: admitted and not finished; a waiting run holds no slot and none of its tasks is
 *   queued (its roots stay PENDING until it is admitted).
 */
import { compileExpression } from './cel';
import { ValidationError } from './errors';
import type { ConcurrencyPolicy, ConcurrencyStrategy, Json } from './glossary';

export type { ConcurrencyPolicy, ConcurrencyStrategy };
export const CONCURRENCY_STRATEGIES: readonly ConcurrencyStrategy[] = ['QUEUE', 'CANCEL_IN_PROGRESS', 'CANCEL_NEWEST', 'ROUND_ROBIN'];

/** The most runs in flight one key may allow: a bound, not a queue depth. */
export const MAX_CONCURRENCY_MAX = 100_000;
/** The longest key value, characters: it is stored and shown in `waitingFor`. */
export const MAX_CONCURRENCY_KEY_LENGTH = 256;

/** A draft's `concurrency` normalized (strategy defaults to QUEUE); undefined when none. @throws ValidationError */
export function normalizeConcurrency(
  workflow: string,
  draft: { key?: string | null; max?: number | null; strategy?: string | null } | null | undefined,
): ConcurrencyPolicy | undefined {
  if (draft === undefined || draft === null) return undefined;
  const wf = `Workflow "${workflow}"`;
  const max = draft.max;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_CONCURRENCY_MAX) {
    throw invalid(`${wf} has concurrency.max ${JSON.stringify(max ?? null)}; use an integer from 1 to ${MAX_CONCURRENCY_MAX}`, { field: 'concurrency.max' });
  }
  const strategy = draft.strategy ?? 'QUEUE';
  if (!(CONCURRENCY_STRATEGIES as readonly string[]).includes(strategy)) {
    throw invalid(`${wf} has concurrency.strategy ${JSON.stringify(strategy)}; use one of ${CONCURRENCY_STRATEGIES.join(', ')}`, {
      field: 'concurrency.strategy',
    });
  }
  const policy: ConcurrencyPolicy = { max, strategy: strategy as ConcurrencyStrategy };
  if (draft.key !== undefined && draft.key !== null) {
    // Type-checked now: a key that cannot compile is refused at registration, not at the first start.
    compileExpression(draft.key, { variables: ['input'], where: `${wf}'s concurrency.key` });
    policy.key = draft.key;
  }
  return policy;
}

/**
 * A step's `concurrency` normalized: QUEUE or ROUND_ROBIN only (a task over the limit waits; the
 * cancelling strategies apply to runs), its key over the run `input`, not on forEach steps (they
 * bound their items with maxConcurrency) nor `workflow` steps (their child runs have their own).
 * @throws ValidationError
 */
export function normalizeStepConcurrency(
  workflow: string,
  step: { key: string; type: string; forEach?: string | null },
  draft: { key?: string | null; max?: number | null; strategy?: string | null } | null | undefined,
): ConcurrencyPolicy | undefined {
  const policy = normalizeConcurrency(workflow, draft);
  if (!policy) return undefined;
  const where = `Workflow "${workflow}": step "${step.key}"`;
  if (policy.strategy !== 'QUEUE' && policy.strategy !== 'ROUND_ROBIN') {
    throw invalid(
      `${where} has concurrency.strategy ${policy.strategy}; a step's tasks wait (QUEUE or ROUND_ROBIN): set ${policy.strategy} on the workflow's concurrency`,
      {
        field: 'concurrency.strategy',
        step: step.key,
      },
    );
  }
  if (step.forEach !== undefined && step.forEach !== null) {
    throw invalid(`${where} fans out: bound its items with maxConcurrency instead of concurrency`, { field: 'concurrency', step: step.key });
  }
  if (step.type === 'workflow') {
    throw invalid(`${where} starts a child run: set concurrency on the child workflow instead`, { field: 'concurrency', step: step.key });
  }
  return policy;
}

function invalid(message: string, data: Record<string, unknown>): ValidationError {
  return new ValidationError(message, { reason: 'INVALID_CONCURRENCY', ...data });
}

/**
 * The group key of a run: the key expression over its input ('' without one). A value that is
 * not a string, number or bool, or longer than MAX_CONCURRENCY_KEY_LENGTH, refuses the start.
 * @throws ValidationError (the start is BAD_USER_INPUT, nothing is created)
 */
export function concurrencyKeyOf(workflow: string, policy: ConcurrencyPolicy, input: Json): string {
  if (policy.key === undefined) return '';
  const where = `the concurrency key of workflow "${workflow}"`;
  const value = compileExpression(policy.key, { variables: ['input'], where }).evaluate({ input }, where);
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new ValidationError(`${where} (${policy.key}) yielded ${JSON.stringify(value)}; it must yield a string, number or bool for this input`, {
      reason: 'INVALID_CONCURRENCY_KEY',
      field: 'input',
    });
  }
  const key = String(value);
  if (key.length > MAX_CONCURRENCY_KEY_LENGTH) {
    throw new ValidationError(`${where} is ${key.length} characters long for this input; at most ${MAX_CONCURRENCY_KEY_LENGTH} are allowed`, {
      reason: 'INVALID_CONCURRENCY_KEY',
      field: 'input',
    });
  }
  return key;
}

/** A run of a group as the admission sees it, in arrival order (`seq`). */
export interface GroupMember {
  runId: string;
  seq: string;
}

export interface AdmissionDecision {
  /** Waiting runs that take a slot now (their roots are promoted in the same transaction). */
  admit: string[];
  /** Runs cancelled by the strategy, with the reason each gets. */
  cancel: { runId: string; reason: string }[];
}

/**
 * Who runs when a group is looked at under its lock: `inFlight` and `waiting` in arrival order.
 *
 * - QUEUE, ROUND_ROBIN: the oldest waiting runs take the free slots, the rest wait. Each group
 *   has its own slots, so admission is already fair across keys; what ROUND_ROBIN adds is at the
 *   claim: the admitted runs' ready tasks are claimed in turns across keys (each key's oldest,
 *   then each key's second, …: `roundRobinGateOf` in src/store/concurrency-gates.store.ts), so a key
 *   with 50 runs queued does not hold back the 5 of another behind all of its own.
 * - CANCEL_NEWEST: the running ones win; a waiting run that finds no slot is cancelled at once.
 * - CANCEL_IN_PROGRESS: the newest win; of all runs of the group the newest `max` keep (or take)
 *   a slot, older ones are cancelled, running or not.
 */
export function decideAdmission(
  policy: Pick<ConcurrencyPolicy, 'max' | 'strategy'>,
  key: string,
  inFlight: readonly GroupMember[],
  waiting: readonly GroupMember[],
): AdmissionDecision {
  const { max, strategy } = policy;
  const room = Math.max(0, max - inFlight.length);
  const named = key === '' ? 'its workflow' : `concurrency key "${key}"`;
  switch (strategy) {
    case 'QUEUE':
    case 'ROUND_ROBIN':
      return { admit: waiting.slice(0, room).map((m) => m.runId), cancel: [] };
    case 'CANCEL_NEWEST':
      return {
        admit: waiting.slice(0, room).map((m) => m.runId),
        cancel: waiting.slice(room).map((m) => ({
          runId: m.runId,
          reason: `Cancelled by concurrency strategy CANCEL_NEWEST: ${named} already has ${max} run(s) in flight (max ${max}); the running one wins`,
        })),
      };
    case 'CANCEL_IN_PROGRESS': {
      const all = [...inFlight, ...waiting].sort((a, b) => compareSeq(a.seq, b.seq));
      const keep = new Set(all.slice(Math.max(0, all.length - max)).map((m) => m.runId));
      const reason = `Cancelled by concurrency strategy CANCEL_IN_PROGRESS: a newer run of ${named} took its place (max ${max} in flight)`;
      return {
        admit: waiting.filter((m) => keep.has(m.runId)).map((m) => m.runId),
        cancel: all.filter((m) => !keep.has(m.runId)).map((m) => ({ runId: m.runId, reason })),
      };
    }
  }
}

/** Arrival order of bigint sequence numbers given as decimal strings. */
function compareSeq(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

/** Where a waiting run stands in its group (`waitingFor` CONCURRENCY of its tasks). */
export interface RunConcurrencyWait {
  runId: string;
  key: string;
  max: number;
  strategy: ConcurrencyStrategy;
  /** 1 for the next run to be admitted. */
  position: number;
  /** Runs of the group in flight now, oldest first. */
  holders: string[];
}

/** The group key stored for a workflow's key value. Workflow names cannot hold a "/". */
export const groupKeyOf = (workflowName: string, key: string): string => `${workflowName}/${key}`;

/** The group key of a step's tasks for a key value. */
export const stepGroupKeyOf = (workflowName: string, stepKey: string, key: string): string => `step:${workflowName}/${stepKey}/${key}`;

/** A run's entry into concurrency groups: its own (workflow `concurrency`) and its gated steps' tasks. */
export interface ConcurrencyEntryPlan {
  /** The run's group, when its workflow has `concurrency`: it waits (every step PENDING) until admitted. */
  run: { groupKey: string; key: string; max: number; strategy: ConcurrencyStrategy } | null;
  /** The tasks of steps with `concurrency`, each with its group. */
  tasks: GatedTask[];
}

/** A task of a step with `concurrency` in its group. */
export interface GatedTask {
  taskId: string;
  groupKey: string;
  max: number;
  strategy: ConcurrencyStrategy;
}

/**
 * Where a run of `workflow` with this input enters concurrency groups (pure). `tasks`: the run's
 * planned tasks (a step's own task is the one without a parent).
 * @throws ValidationError for a key the input cannot yield
 */
export function planConcurrencyEntry(
  workflow: { name: string; definition: { concurrency?: ConcurrencyPolicy; steps: readonly { key: string; concurrency?: ConcurrencyPolicy }[] } },
  input: Json,
  tasks: readonly { id: string; key: string; parentTaskId: string | null }[],
): ConcurrencyEntryPlan {
  const policy = workflow.definition.concurrency;
  let run: ConcurrencyEntryPlan['run'] = null;
  if (policy) {
    const key = concurrencyKeyOf(workflow.name, policy, input);
    run = { groupKey: groupKeyOf(workflow.name, key), key, max: policy.max, strategy: policy.strategy };
  }
  const gated: ConcurrencyEntryPlan['tasks'] = [];
  for (const step of workflow.definition.steps) {
    if (!step.concurrency) continue;
    const key = concurrencyKeyOf(`${workflow.name}" step "${step.key}`, step.concurrency, input);
    const task = tasks.find((t) => t.key === step.key && t.parentTaskId === null);
    if (task) {
      gated.push({ taskId: task.id, groupKey: stepGroupKeyOf(workflow.name, step.key, key), max: step.concurrency.max, strategy: step.concurrency.strategy });
    }
  }
  return { run, tasks: gated };
}

const ENDED_TASK: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED']);

/**
 * How one transition moves a run's gated tasks (of steps with `concurrency`) in and out of their
 * groups: a task that ended leaves (its row is deleted in the same transaction, so a group's rows
 * are its unfinished tasks only), one that runs again after ending (retryRun) enters again.
 * `before`: the tasks as the transition found them; `after`: those it changed.
 */
export function gatedTaskMoves(
  workflow: { name: string; definition: { steps: readonly { key: string; concurrency?: ConcurrencyPolicy }[] } },
  input: Json,
  before: readonly { id: string; key: string; parentTaskId: string | null; status: string }[],
  after: readonly { id: string; status?: string }[],
): { leave: string[]; enter: GatedTask[] } {
  const leave: string[] = [];
  const enter: GatedTask[] = [];
  if (!workflow.definition.steps.some((s) => s.concurrency)) return { leave, enter };
  const was = new Map(before.map((t) => [t.id, t]));
  for (const c of after) {
    const t = was.get(c.id);
    if (!t || t.parentTaskId !== null || c.status === undefined || c.status === t.status) continue;
    const policy = workflow.definition.steps.find((s) => s.key === t.key)?.concurrency;
    if (!policy) continue;
    if (ENDED_TASK.has(c.status)) leave.push(t.id);
    else if (ENDED_TASK.has(t.status)) {
      const key = concurrencyKeyOf(`${workflow.name}" step "${t.key}`, policy, input);
      enter.push({ taskId: t.id, groupKey: stepGroupKeyOf(workflow.name, t.key, key), max: policy.max, strategy: policy.strategy });
    }
  }
  return { leave, enter };
}
