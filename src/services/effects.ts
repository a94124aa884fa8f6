import type { EventBus, RunEvent } from '../events/event-bus';
import type { RunEventRow } from '../store/events.store';
import type { TransitionResult } from '../domain/run-machine';
import { EventEmitter } from 'node:events';

/**
 * Typed hooks the engine emits after a transition commits. Metrics, logs and tests subscribe;
 * nothing in the engine depends on who listens.
 */
/** What every hook about one task attempt carries (log fields, metric labels, trace). */
export interface TaskHook {
  tenantId: string;
  runId: string;
  taskId: string;
  key: string;
  attempt: number;
  workflow: string;
  traceparent: string | null;
}

export interface EngineHookMap {
  'run:created': [{ tenantId: string; runId: string; workflow: string; traceparent: string | null }];
  'run:started': [{ tenantId: string; runId: string; workflow: string; traceparent: string | null }];
  'run:finished': [
    { tenantId: string; runId: string; workflow: string; status: string; error: string | null; durationMs: number | null; traceparent: string | null },
  ];
  'task:claimed': [TaskHook & { queue: string | null; workerId: string; waitedMs: number | null }];
  /** Something time-driven was scheduled (a retry delay, an attempt or run deadline): the local scheduler arms a wake-up. */
  'timer:armed': [{ at: Date }];
  'task:fenced': [{ taskId: string; token: string }];
  'task:reclaimed': [{ taskId: string; token: string; tenantId: string }];
  'lease:renew-failed': [{ taskId: string; tenantId: string; reason: string }];
  'task:finished': [TaskHook & { status: string; error: string | null }];
}

export class EngineHooks extends EventEmitter<EngineHookMap> {}

/** What a committed transaction must tell the world: its events and the queues it made ready. */
export interface Effects {
  events: RunEventRow[];
  ready: (string | null)[];
}

export function emptyEffects(): Effects {
  return { events: [], ready: [] };
}

export function addResult(effects: Effects, events: RunEventRow[], result: Pick<TransitionResult, 'ready'>): void {
  effects.events.push(...events);
  for (const r of result.ready) effects.ready.push(r.queue);
}

/**
 * Publishes after commit, never inside the transaction: a subscriber must not see an event the
 * database may still roll back. A crash between commit and publish loses only the live copy;
 * subscribers fill gaps from the stored history.
 */
export async function publishEffects(bus: EventBus, effects: Effects, onError: (e: unknown) => void): Promise<void> {
  try {
    await Promise.all([bus.publish(effects.events as RunEvent[]), bus.signalReady(effects.ready)]);
  } catch (e: unknown) {
    onError(e);
  }
}
