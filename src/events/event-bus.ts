import type { RunEvent } from '../domain/model';

export type Unsubscribe = () => void;

/** A built-in step made ready, by tenant and type: lets this replica skip a claim that could not take it. */
export interface ReadyBuiltIn {
  tenantId: string;
  type: string;
}

/**
 * Hears ready signals: `queue` null for built-in steps. `builtIn`, on this replica's own signals
 * only, names every built-in step that became ready when the signal carries them all (absent: a
 * claim should look).
 */
export type ReadyListener = (queue: string | null, builtIn?: readonly ReadyBuiltIn[]) => void;

/**
 * Live events and wake-up signals, delivered to every replica (Redis pub/sub) or within the
 * process (embedded). Delivery is at-most-once: Postgres holds every event, and subscribers
 * fill gaps from there (see `RunEventsService`).
 */
export interface EventBus {
  /** Publishes committed events to every replica's local subscribers. */
  publish(events: readonly RunEvent[]): Promise<void>;
  /** Local delivery of one tenant's events. */
  subscribe(tenantId: string, listener: (event: RunEvent) => void): Unsubscribe;
  /**
   * Tells every replica that tasks of a queue became ready (null: built-in steps). `builtIn`,
   * when given, is every built-in step among them (delivered to this replica's listeners only).
   */
  signalReady(queues: readonly (string | null)[], builtIn?: readonly ReadyBuiltIn[]): Promise<void>;
  onReady(listener: ReadyListener): Unsubscribe;
  /**
   * Called after the bus lost messages it cannot name (a reconnect to Redis): listeners should
   * catch up from the stored history.
   */
  onResync(listener: () => void): Unsubscribe;
  /**
   * Tells every replica (this one at once) that API keys were revoked: they drop cached
   * credentials and close the keys' open WebSockets.
   */
  announceRevoked(apiKeyIds: readonly string[]): Promise<void>;
  onRevoked(listener: (apiKeyId: string) => void): Unsubscribe;
  /** Throws when the backend is unreachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The in-process fan-out both implementations end in. */
export class LocalFanout {
  private readonly byTenant = new Map<string, Set<(event: RunEvent) => void>>();
  private readonly readyListeners = new Set<ReadyListener>();
  private readonly resyncListeners = new Set<() => void>();
  private readonly revokedListeners = new Set<(apiKeyId: string) => void>();

  subscribe(tenantId: string, listener: (event: RunEvent) => void): Unsubscribe {
    let set = this.byTenant.get(tenantId);
    if (!set) this.byTenant.set(tenantId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.byTenant.delete(tenantId);
    };
  }

  deliver(events: readonly RunEvent[]): void {
    for (const event of events) {
      const set = this.byTenant.get(event.tenantId);
      if (!set) continue;
      for (const listener of [...set]) listener(event);
    }
  }

  onReady(listener: ReadyListener): Unsubscribe {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  deliverReady(queues: readonly (string | null)[], builtIn?: readonly ReadyBuiltIn[]): void {
    for (const queue of queues) {
      for (const listener of [...this.readyListeners]) {
        // Called from the publisher's path now (local wake-ups): one listener's fault must not
        // keep the others, or the message to other replicas, from going out.
        try {
          listener(queue, queue === null ? builtIn : undefined);
        } catch {
          /* a listener's own problem; the fallback poll covers what it missed */
        }
      }
    }
  }

  onResync(listener: () => void): Unsubscribe {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  resync(): void {
    for (const listener of [...this.resyncListeners]) listener();
  }

  onRevoked(listener: (apiKeyId: string) => void): Unsubscribe {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  deliverRevoked(apiKeyIds: readonly string[]): void {
    for (const id of apiKeyIds) {
      for (const listener of [...this.revokedListeners]) {
        try {
          listener(id);
        } catch {
          /* one listener's fault must not keep the others from closing the key's sockets */
        }
      }
    }
  }
}
