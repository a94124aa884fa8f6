/**
 * The state machine's fan-out rules (a forEach step): fanning out when the step becomes ready,
 * releasing items up to maxConcurrency, and fanning in when the last item ends. Pure, like the
 * machine that calls them: new item tasks are returned as created tasks and persisted in the
 * transition that created them.
 *
 * The fan task keeps its own progress (`itemsLeft`, `itemsActive`), so a transition that ends
 * one item of 10,000 needs only that item, the fan task and the next PENDING item or two: the
 * engine loads all items only when a fan task can finish (or a failure may cancel them).
 */
import { coerceError, LimitExceededError, TemplateError } from './errors';
import { jsonBytesUpTo } from './json-limits';
import { DEFAULT_MAX_FOREACH_ITEMS, evaluateForEach } from './for-each';
import type { Json, StepDefinition } from './glossary';
import type { TaskState } from './run-machine';
import { rateLimitKeyOf } from './rate-limits';
import { restingTask } from './resting-task';
import { DEFAULT_EXPANSION_LIMITS, resolveTemplates, type ExpansionLimits, type TemplateScope } from './templates';

/** An item task a transition created: its state, and what the store needs besides. */
export type CreatedTask = TaskState &
  Pick<StepDefinition, 'type' | 'queue' | 'timeoutMs'> & {
    /** The step's own priority; null: the run's (the kernel fills it in). */
    stepPriority: number | null;
    rateLimitLimit: number | null;
    rateLimitPeriodMs: number | null;
  };

/** What the fan-out rules need of the machine's working state. */
export interface FanWork {
  readonly ctx: { now: Date; limits?: ExpansionLimits & { maxOutputBytes?: number }; maxForEachItems?: number; newId: () => string };
  readonly steps: ReadonlyMap<string, StepDefinition>;
  readonly byId: ReadonlyMap<string, TaskState>;
  readonly ready: { queue: string | null; availableAt: Date | null }[];
  /** The fan task's loaded items (all of them when it can finish), in no particular order. */
  itemsOf(fanId: string): TaskState[];
  create(task: CreatedTask): void;
  setTask(task: TaskState, patch: Partial<TaskState>, data?: Json): void;
}

/** The fields of a new task that are not about fan-out. */
export const NO_FAN: Pick<TaskState, 'parentTaskId' | 'item' | 'itemIndex' | 'itemCount' | 'itemsLeft' | 'itemsActive' | 'failedItems'> = Object.freeze({
  parentTaskId: null,
  item: null,
  itemIndex: null,
  itemCount: null,
  itemsLeft: null,
  itemsActive: null,
  failedItems: null,
});

/** The list of a forEach step and each item's resolved input; throws what a step's input would. */
export function planItems(
  step: StepDefinition,
  scope: TemplateScope,
  limits: ExpansionLimits | undefined,
  maxItems: number,
): { item: Json; input: Json; rateLimitKey: string | null }[] {
  const list = evaluateForEach(step, scope, maxItems);
  // The items are written in one transition: together they are one task's expansion. Each may
  // share memory with the scope here, but each is stored in full (600 items of a 1 MB input
  // wedged the transition at 1.4 GB; 10,000 would not fit in memory).
  const max = (limits ?? DEFAULT_EXPANSION_LIMITS).maxTemplateTaskBytes;
  let total = 0;
  return list.map((item, index) => {
    const input = resolveTemplates(step.input, { ...scope, fanItem: { item, index } }, limits);
    total += jsonBytesUpTo(input, max - total + 1);
    if (total > max) {
      throw new LimitExceededError(
        `The inputs of the ${list.length} items of step "${step.key}" would expand to more than ${max} bytes together (MAX_TEMPLATE_TASK_BYTES): reference smaller values in the item input, or fewer items`,
        { limit: 'MAX_TEMPLATE_TASK_BYTES', max, actual: total },
      );
    }
    return { item, input, rateLimitKey: rateLimitKeyOf(step, { input: scope.input, steps: scope.steps, item, index }) };
  });
}

/**
 * An item's result that would make its step's output (every item's, fanned in) larger than
 * MAX_OUTPUT_BYTES: each item may use its share, the limit divided by the items. Returns the
 * failure to record instead (not retried: the item would produce the same), or null. Checked as
 * each item ends, so a fan-in never loads nor stores more than the limit (10,000 items of 1 MB
 * each were 10 GB loaded at once to fan in).
 */
export function itemOverShare(w: FanWork, item: TaskState, output: Json): string | null {
  const maxOutputBytes = w.ctx.limits?.maxOutputBytes;
  if (item.parentTaskId === null || maxOutputBytes === undefined) return null;
  const fan = w.byId.get(item.parentTaskId);
  if (!fan?.itemCount) return null;
  const share = Math.floor(maxOutputBytes / fan.itemCount);
  const bytes = jsonBytesUpTo(output, share);
  if (bytes <= share) return null;
  return `OUTPUT_TOO_LARGE: item ${item.itemIndex} output is over ${share} bytes, its share of MAX_OUTPUT_BYTES (${maxOutputBytes}) among the ${fan.itemCount} items of step "${fan.key}", whose output holds them all`;
}

/**
 * The step's task becomes a fan task: RUNNING (held by no worker) with one PENDING item task per
 * item, the first `maxConcurrency` of them QUEUED. An empty list succeeds at once with `[]`.
 * Returns false when the list or an item's input cannot be made, or when `admit` refuses room
 * for the items (the tenant's TENANT_MAX_QUEUED_TASKS): the task FAILED, the caller fails the run.
 * `admit` answering undefined (the tenant's load not read yet) leaves everything as it was:
 * `{ ok: true, unknown: true }`, and the kernel decides again once it has read it.
 */
export function fanOut(
  w: FanWork,
  step: StepDefinition,
  fan: TaskState,
  scope: TemplateScope,
  admit?: (items: number) => boolean | undefined,
): { ok: true; unknown?: true } | { ok: false; message: string } {
  const now = w.ctx.now;
  let items: { item: Json; input: Json; rateLimitKey: string | null }[];
  try {
    items = planItems(step, scope, w.ctx.limits, w.ctx.maxForEachItems ?? DEFAULT_MAX_FOREACH_ITEMS);
  } catch (e: unknown) {
    const message = e instanceof TemplateError || e instanceof LimitExceededError ? e.message : coerceError(e).message;
    const data: Json = e instanceof LimitExceededError ? { error: message, reason: 'LIMIT_EXCEEDED', limit: e.data.limit as string } : { error: message };
    w.setTask(fan, { status: 'FAILED', error: message, finishedAt: now }, data);
    return { ok: false, message };
  }
  const room = items.length === 0 || admit === undefined ? true : admit(items.length);
  if (room === undefined) return { ok: true, unknown: true };
  if (!room) {
    const message = `forEach of ${items.length} items would put this tenant past its quota of tasks waiting to run (TENANT_MAX_QUEUED_TASKS): let workers drain them, then retry the run`;
    w.setTask(
      fan,
      { status: 'FAILED', error: message, finishedAt: now },
      { error: message, reason: 'QUOTA_EXCEEDED', quota: 'TENANT_MAX_QUEUED_TASKS', items: items.length },
    );
    return { ok: false, message };
  }
  if (items.length === 0) {
    w.setTask(
      fan,
      { status: 'SUCCEEDED', input: null, output: [], itemCount: 0, itemsLeft: 0, itemsActive: 0, failedItems: [], startedAt: now, finishedAt: now },
      { items: 0, failedItems: [] },
    );
    return { ok: true };
  }
  w.setTask(fan, { status: 'RUNNING', input: null, itemCount: items.length, itemsLeft: items.length, itemsActive: 0, startedAt: now }, { items: items.length });
  items.forEach(({ item, input, rateLimitKey }, index) => {
    w.create({
      ...restingTask({ id: w.ctx.newId(), key: fan.key, status: 'PENDING', input, parentTaskId: fan.id, item, itemIndex: index, rateLimitKey }),
      type: step.type,
      queue: step.queue,
      timeoutMs: step.timeoutMs,
      ...stepFixed(step),
    });
  });
  releaseItems(w, step, fan);
  return { ok: true };
}

/** Queues the next PENDING items of a running fan task, lowest index first, up to maxConcurrency in flight. */
export function releaseItems(w: FanWork, step: StepDefinition, fan: TaskState): void {
  const free = (step.maxConcurrency ?? Infinity) - (fan.itemsActive ?? 0);
  if (free <= 0) return;
  const pending = w
    .itemsOf(fan.id)
    .filter((t) => t.status === 'PENDING')
    .sort((a, b) => a.itemIndex! - b.itemIndex!);
  const now = w.ctx.now;
  const next = pending.slice(0, Math.min(free, pending.length));
  for (const item of next) {
    w.setTask(item, { status: 'QUEUED', queuedAt: now, availableAt: now });
    w.ready.push({ queue: step.queue, availableAt: now });
  }
  if (next.length > 0) w.setTask(fan, { itemsActive: (fan.itemsActive ?? 0) + next.length });
}

/** What became of a fan task when one of its items ended. */
export type ItemOutcome = { fan: 'running' } | { fan: 'succeeded' } | { fan: 'failed'; error: string };

/**
 * An item task ended (SUCCEEDED, or FAILED after its retries): its fan task counts it, fails
 * when it failed (unless the step continues on item failure), fans in when it was the last,
 * else queues the next item.
 */
export function itemEnded(w: FanWork, item: TaskState): ItemOutcome {
  const fan = w.byId.get(item.parentTaskId!);
  if (!fan || fan.status !== 'RUNNING') return { fan: 'running' };
  const step = w.steps.get(fan.key)!;
  w.setTask(fan, { itemsLeft: fan.itemsLeft! - 1, itemsActive: Math.max(0, fan.itemsActive! - 1) });
  if (item.status === 'FAILED' && !step.continueOnItemFailure) {
    const error = `item ${item.itemIndex} failed: ${item.error}`;
    w.setTask(fan, { status: 'FAILED', error, failedItems: [item.itemIndex!], finishedAt: w.ctx.now }, { error, failedItems: [item.itemIndex!] });
    return { fan: 'failed', error };
  }
  if (fan.itemsLeft! > 0) {
    releaseItems(w, step, fan);
    return { fan: 'running' };
  }
  fanIn(w, fan);
  return { fan: 'succeeded' };
}

/** All items ended: the fan task succeeds with their outputs in item order, failed items as null. */
function fanIn(w: FanWork, fan: TaskState): void {
  const items = w.itemsOf(fan.id).sort((a, b) => a.itemIndex! - b.itemIndex!);
  if (items.length !== fan.itemCount) {
    // The engine loads every item of a fan task that can finish; anything else is a loader bug.
    throw new Error(`fan task ${fan.id} has ${fan.itemCount} items, ${items.length} loaded`);
  }
  const output = items.map((t) => (t.status === 'SUCCEEDED' ? t.output : null));
  const failedItems = items.filter((t) => t.status === 'FAILED').map((t) => t.itemIndex!);
  w.setTask(fan, { status: 'SUCCEEDED', output, error: null, failedItems, finishedAt: w.ctx.now }, { items: items.length, failedItems });
}

/**
 * retryRun of a fan task that fanned out: its failed and cancelled items run again (succeeded
 * ones keep their outputs), the fan task runs again. Needs every item loaded.
 */
export function retryFan(w: FanWork, step: StepDefinition, fan: TaskState, resetTask: (t: TaskState) => void): void {
  const items = w.itemsOf(fan.id);
  let left = 0;
  for (const item of items) {
    if (item.status === 'FAILED' || item.status === 'CANCELLED') resetTask(item);
    if (item.status !== 'SUCCEEDED') left++;
  }
  w.setTask(fan, {
    status: 'RUNNING',
    output: null,
    error: null,
    failedItems: null,
    finishedAt: null,
    failures: 0,
    faults: 0,
    itemsLeft: left,
    itemsActive: 0,
  });
  if (left === 0) fanIn(w, fan);
  else releaseItems(w, step, fan);
}

/** What a step fixes on each of its tasks at creation, besides type, queue and timeout. */
export function stepFixed(step: Pick<StepDefinition, 'priority' | 'rateLimit'>): Pick<CreatedTask, 'stepPriority' | 'rateLimitLimit' | 'rateLimitPeriodMs'> {
  return { stepPriority: step.priority ?? null, rateLimitLimit: step.rateLimit?.limit ?? null, rateLimitPeriodMs: step.rateLimit?.periodMs ?? null };
}
