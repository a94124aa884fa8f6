/**
 * Event triggers: a workflow's `on` list (start a run when an event of a name arrives, optionally
 * only when a CEL `filter` over its payload holds), the names and ids events carry, and which
 * triggers an event matches. Pure: the store keeps a table of (tenant, event name) → latest
 * workflow version per trigger (`workflow_triggers`), the service starts the runs.
 *
 * Terminology: an **event** is a named JSON payload sent by `publishEvent` or a signed webhook;
 * its **id** (given, or assigned) is unique per tenant: the same id twice starts nothing new.
 */
import { createHash } from 'node:crypto';
import { CelCompileError, CelEvaluationError, compileExpression } from './cel';
import { ValidationError } from './errors';
import type { Json, TriggerDefinition } from './glossary';

/** Event names: 1 to 128 letters, digits, "_", ".", ":" or "-", starting with a letter (`order.created`, `github:push`). No "/": a name is a URL path segment of webhooks. */
export const EVENT_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/;
/** Event ids: 1 to 128 printable ASCII characters, no spaces (UUIDs, delivery ids of other systems). */
export const EVENT_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;
/** Triggers per workflow at most. */
export const MAX_TRIGGERS_PER_WORKFLOW = 32;
/** Workflows one event may start at most: an event is one request, and each run is an insert. */
export const MAX_RUNS_PER_EVENT = 100;
/** The only variable a filter reads. */
const FILTER_VARIABLES = ['payload'] as const;

/** `ValidationError.data.reason` of a refused `on` list. */
export type TriggerErrorReason = 'INVALID_TRIGGER' | 'INVALID_TRIGGER_FILTER' | 'TOO_MANY_TRIGGERS';

/** Defaults filled, copies made; `undefined` when the workflow declares no trigger (it hashes as before `on` existed). */
export function normalizeTriggers(on: readonly { event: string; filter?: string | null }[] | null | undefined): TriggerDefinition[] | undefined {
  if (on === null || on === undefined || !Array.isArray(on) || on.length === 0) return undefined;
  return on.map((t) => ({ event: t?.event, ...(t?.filter === undefined || t?.filter === null ? {} : { filter: t.filter }) }));
}

/**
 * Every trigger: a valid event name, and a filter that is CEL over `payload` yielding bool,
 * type-checked here (registration), not at the first event. `data`: `{ reason, field: 'on[i].filter', offset? }`.
 */
export function checkTriggers(wf: string, on: readonly TriggerDefinition[] | undefined): void {
  if (on === undefined) return;
  if (!Array.isArray(on)) fail('INVALID_TRIGGER', `${wf}: on must be a list of { event, filter }`, { field: 'on' });
  if (on.length > MAX_TRIGGERS_PER_WORKFLOW) {
    fail('TOO_MANY_TRIGGERS', `${wf} declares ${on.length} triggers in \`on\`; at most ${MAX_TRIGGERS_PER_WORKFLOW} are allowed`, {
      field: 'on',
      max: MAX_TRIGGERS_PER_WORKFLOW,
      actual: on.length,
    });
  }
  on.forEach((trigger, i) => {
    const field = `on[${i}].event`;
    if (typeof trigger.event !== 'string' || !EVENT_NAME_PATTERN.test(trigger.event)) {
      fail(
        'INVALID_TRIGGER',
        `${wf}: ${field} ${JSON.stringify(trigger.event)} is invalid: use 1 to 128 letters, digits, "_", ".", ":" or "-", starting with a letter`,
        {
          field,
        },
      );
    }
    if (trigger.filter === undefined) return;
    const filterField = `on[${i}].filter`;
    if (typeof trigger.filter !== 'string') {
      fail('INVALID_TRIGGER_FILTER', `${wf}: ${filterField} must be a string holding a CEL expression over \`payload\``, { field: filterField, offset: 0 });
    }
    try {
      compileFilter(trigger.filter, `${filterField} (event "${trigger.event}")`);
    } catch (e: unknown) {
      if (!(e instanceof CelCompileError)) throw e;
      fail('INVALID_TRIGGER_FILTER', `${wf}: ${e.message}`, { field: filterField, offset: e.data['offset'], celReason: e.data['reason'] });
    }
  });
}

function compileFilter(source: string, where: string) {
  return compileExpression(source, { variables: FILTER_VARIABLES, expect: 'bool', where });
}

/**
 * Whether an event's payload passes a trigger's filter. A filter that fails on this payload (a
 * missing key: test it with `has(payload.x)`; a wrong type) does not match: an event that does not
 * have what a workflow asks for does not start it. No filter: always.
 */
export function filterMatches(filter: string | null | undefined, payload: Json): boolean {
  if (filter === null || filter === undefined) return true;
  try {
    return compileFilter(filter, 'the trigger filter').evaluate({ payload }) === true;
  } catch (e: unknown) {
    if (e instanceof CelEvaluationError) return false;
    throw e;
  }
}

/** A stored trigger as the matcher needs it: one row of `workflow_triggers`. */
export interface TriggerRow {
  workflowId: string;
  workflowName: string;
  workflowVersion: number;
  filter: string | null;
}

/** A workflow version an event starts a run of. */
export interface MatchedWorkflow {
  workflowId: string;
  workflow: string;
  version: number;
}

/**
 * The workflows an event starts: each workflow at most once (the first of its triggers that
 * passes), in name order. More than {@link MAX_RUNS_PER_EVENT}: refused before any run starts.
 */
export function matchTriggers(rows: readonly TriggerRow[], payload: Json): MatchedWorkflow[] {
  const out = new Map<string, MatchedWorkflow>();
  for (const row of rows) {
    if (out.has(row.workflowName)) continue;
    if (filterMatches(row.filter, payload)) out.set(row.workflowName, { workflowId: row.workflowId, workflow: row.workflowName, version: row.workflowVersion });
  }
  return [...out.values()].sort((a, b) => (a.workflow < b.workflow ? -1 : a.workflow > b.workflow ? 1 : 0));
}

/** Checks an event name as `publishEvent` and webhooks receive it. @throws ValidationError */
export function checkEventName(name: unknown, field = 'name'): asserts name is string {
  if (typeof name !== 'string' || !EVENT_NAME_PATTERN.test(name)) {
    throw new ValidationError(
      `The event ${field} ${JSON.stringify(name)} is invalid: use 1 to 128 letters, digits, "_", ".", ":" or "-", starting with a letter`,
      {
        reason: 'INVALID_EVENT_NAME',
        field,
      },
    );
  }
}

/** Checks a given event id. @throws ValidationError */
export function checkEventId(id: unknown, field = 'id'): asserts id is string {
  if (typeof id !== 'string' || !EVENT_ID_PATTERN.test(id)) {
    throw new ValidationError(`The event ${field} must be 1 to 128 printable ASCII characters without spaces (a UUID, or the sender's delivery id)`, {
      reason: 'INVALID_EVENT_ID',
      field,
    });
  }
}

/** SHA-256 (hex) of what an event id stands for: its name and payload, canonical. */
export function eventHash(name: string, canonicalPayload: string): string {
  return createHash('sha256').update(name).update('\u0000').update(canonicalPayload).digest('hex');
}

/**
 * The idempotency key of the run an event starts of a workflow: every replica (and a retry of the
 * same event after a crash) starting it gets the same run. The time the event was recorded is part
 * of it: an id received again after its event was pruned (EVENT_RETENTION_MS) is a new event.
 * Hashed: a tenant's own keys never look like it by accident, and it stays within the 256
 * characters keys may have.
 */
export function eventRunKey(eventId: string, workflow: string, receivedAt: Date): string {
  const hash = createHash('sha256').update(eventId).update('\u0000').update(workflow).update('\u0000').update(String(receivedAt.getTime()));
  return `event:${hash.digest('hex')}`;
}

function fail(reason: TriggerErrorReason, message: string, data: Record<string, unknown>): never {
  throw new ValidationError(message, { reason, ...data });
}
