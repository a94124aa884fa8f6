import { randomUUID } from 'node:crypto';
import type { Clock } from '../domain/clock';
import type { EngineHooks } from '../domain/hooks';
import { ConflictError, type DomainError, LimitExceededError, NotFoundError, ValidationError } from '../domain/errors';
import type { Json } from '../domain/glossary';
import { checkJson } from '../domain/json-limits';
import { canonicalJson } from '../domain/json';
import { checkEventId, checkEventName, eventHash, eventRunKey, matchTriggers, MAX_RUNS_PER_EVENT, type MatchedWorkflow } from '../domain/triggers';
import { completeEvent, findEvent, insertEvent, pruneEvents, type EventOutcome, type EventRecord } from '../store/published-events.store';
import type { Database } from '../store/sql';
import { triggersOfEvent } from '../store/triggers.store';
import type { RunsService } from './runs.service';

/** Where an event came from: `publishEvent` or a signed webhook (the runs' trigger kind). */
export type EventSource = 'EVENT' | 'WEBHOOK';

export interface PublishEventInput {
  name: string;
  payload?: Json;
  /** Unique per tenant; assigned (a UUID) when not given. */
  id?: string | null;
}

/** What `publishEvent` and a webhook answer. */
export interface EventReceipt {
  eventId: string;
  name: string;
  /** This id had been received before: nothing new was started; `runs` are those it started then. */
  duplicate: boolean;
  receivedAt: Date;
  runs: EventOutcome['runs'];
  refused: EventOutcome['refused'];
}

/** How often each replica prunes events past EVENT_RETENTION_MS. */
export const EVENT_PRUNE_INTERVAL_MS = 10 * 60_000;
/** Events one prune statement deletes: short statements, and at most 10 of them a pass. */
const PRUNE_BATCH = 1_000;

/** Trigger rows read per event at most: a workflow may declare several triggers of one name. */
const MAX_TRIGGER_ROWS = MAX_RUNS_PER_EVENT * 4;

/**
 * Events start runs of the workflows whose latest version declares a trigger of the event's name
 * (and whose filter holds). Exactly once per (tenant, event id), across replicas and retries:
 *
 * 1. The matching workflows are found (an index on (tenant, event name)) and the event is
 *    recorded with them: the primary key (tenant, id) lets one insert win.
 * 2. Each matched run is started with an idempotency key made from the event id and the
 *    workflow, so whoever starts it (the first receiver, a racing duplicate, a retry after a crash
 *    between 1 and 3) gets the same run.
 * 3. The outcome is written once. A duplicate of a completed event answers its outcome; of an
 *    event still starting (racing, or a receiver that died), it finishes the starts itself from
 *    the matches recorded in 1, and answers the same runs.
 */
export class EventsService {
  constructor(
    private readonly deps: {
      db: Database;
      runs: RunsService;
      clock: Clock;
      limits: { maxJsonDepth: number; maxInputBytes: number };
      /** `event:received` after each accepted event (metrics subscribe). @default none */
      hooks?: EngineHooks;
    },
  ) {}

  /**
   * Validates and publishes an event. BAD_USER_INPUT for a bad name or id, LIMIT_EXCEEDED for a
   * payload over MAX_INPUT_BYTES / MAX_JSON_DEPTH or more than MAX_RUNS_PER_EVENT matching
   * workflows, CONFLICT when the id was used for another name or payload.
   */
  async publish(tenantId: string, input: PublishEventInput, source: EventSource = 'EVENT'): Promise<EventReceipt> {
    const { db, clock, limits } = this.deps;
    checkEventName(input.name);
    const id = input.id ?? randomUUID();
    checkEventId(id);
    const payload: Json = input.payload ?? null;
    checkJson(payload, { what: 'the event payload', maxDepth: limits.maxJsonDepth, maxBytes: limits.maxInputBytes, bytesLimit: 'MAX_INPUT_BYTES' });
    const payloadHash = eventHash(input.name, canonicalJson(payload));

    const previous = await findEvent(db, tenantId, id);
    let event: EventRecord;
    let duplicate: boolean;
    if (previous) {
      event = sameEvent(previous, input.name, payloadHash);
      duplicate = true;
    } else {
      const rows = await triggersOfEvent(db, tenantId, input.name, MAX_TRIGGER_ROWS + 1);
      const matched = matchTriggers(rows.slice(0, MAX_TRIGGER_ROWS), payload);
      if (matched.length > MAX_RUNS_PER_EVENT || rows.length > MAX_TRIGGER_ROWS) {
        throw new LimitExceededError(
          rows.length > MAX_TRIGGER_ROWS
            ? `Event "${input.name}" has more than ${MAX_TRIGGER_ROWS} triggers in this tenant; use distinct event names for distinct workflows`
            : `Event "${input.name}" matches ${matched.length} workflows, more than ${MAX_RUNS_PER_EVENT} (MAX_RUNS_PER_EVENT); narrow their triggers with filters or use distinct event names`,
          { limit: 'MAX_RUNS_PER_EVENT', max: MAX_RUNS_PER_EVENT, actual: matched.length },
        );
      }
      const inserted = await insertEvent(db, { tenantId, id, name: input.name, source, payloadHash, receivedAt: clock.now(), matched });
      if (inserted) {
        event = inserted;
        duplicate = false;
      } else {
        // Another receiver recorded it between our read and our insert: its matches count.
        const winner = await findEvent(db, tenantId, id);
        if (!winner) throw new ConflictError(`Event "${id}" is being received concurrently; send it again`, { reason: 'EVENT_RACE', eventId: id });
        event = sameEvent(winner, input.name, payloadHash);
        duplicate = true;
      }
    }
    const outcome = event.outcome ?? (await this.finish(tenantId, event, payload));
    this.deps.hooks?.emit('event:received', { tenantId, eventId: id, source, duplicate, runsStarted: duplicate ? 0 : outcome.runs.length });
    return { eventId: id, name: event.name, duplicate, receivedAt: event.receivedAt, runs: outcome.runs, refused: outcome.refused };
  }

  /**
   * Forgets the events received `retentionMs` before `now` (their ids may start runs again), up to
   * 10 batches a pass; every replica may prune at once (SKIP LOCKED). Returns how many.
   */
  async prune(now: Date, retentionMs: number): Promise<number> {
    const before = new Date(now.getTime() - retentionMs);
    let total = 0;
    for (let batch = 0; batch < 10; batch++) {
      const n = await pruneEvents(this.deps.db, before, PRUNE_BATCH);
      total += n;
      if (n < PRUNE_BATCH) break;
    }
    return total;
  }

  /** Starts (or finds, by their keys) the runs of the recorded matches, and records the outcome. */
  private async finish(tenantId: string, event: EventRecord, payload: Json): Promise<EventOutcome> {
    const outcome: EventOutcome = { runs: [], refused: [] };
    const trigger = { kind: event.source, eventName: event.name, eventId: event.id } as const;
    for (const m of event.matched as MatchedWorkflow[]) {
      try {
        const run = await this.deps.runs.start(
          tenantId,
          { workflow: m.workflow, version: m.version, input: payload ?? {}, idempotencyKey: eventRunKey(event.id, m.workflow, event.receivedAt) },
          { trigger },
        );
        outcome.runs.push({ runId: run.id, workflow: m.workflow, version: m.version });
      } catch (e: unknown) {
        // The payload does not fit this workflow (its input schema, its templates), or the version
        // is gone: that never changes, so it is recorded, not retried. Anything else (a quota, an
        // outage) leaves the event unfinished: sending it again finishes it.
        if (!isPermanent(e)) throw e;
        outcome.refused.push({ workflow: m.workflow, version: m.version, code: e.code, message: e.message });
      }
    }
    await completeEvent(this.deps.db, tenantId, event.id, outcome, this.deps.clock.now());
    return outcome;
  }
}

function isPermanent(e: unknown): e is DomainError {
  return e instanceof ValidationError || e instanceof LimitExceededError || e instanceof NotFoundError || e instanceof ConflictError;
}

/** An id names one event: the same name and payload again is a duplicate; anything else a client bug. */
function sameEvent(existing: EventRecord, name: string, payloadHash: string): EventRecord {
  if (existing.payloadHash === payloadHash) return existing;
  const differs = existing.name === name ? 'payload' : 'name';
  throw new ConflictError(
    `Event id "${existing.id}" was already used for another event (its ${differs} differs); send the original event again, or use a new id for a new event`,
    { reason: 'EVENT_ID_REUSED', eventId: existing.id, differs },
  );
}
