import type { RunEvent } from '../domain/model';
import type { EventBus } from '../events/event-bus';
import type { TransitionResult } from '../domain/run-machine';


/** What a committed transaction must tell the world: its events and the queues it made ready. */
export interface Effects {
  events: RunEvent[];
  ready: (string | null)[];
}

export function emptyEffects(): Effects {
  return { events: [], ready: [] };
}

export function addResult(effects: Effects, events: RunEvent[], result: Pick<TransitionResult, 'ready'>): void {
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
