import { LocalFanout, type EventBus, type ReadyBuiltIn, type ReadyListener, type Unsubscribe } from './event-bus';
import type { RunEvent } from '../domain/model';

/** Embedded mode: one replica, so the process is the whole cluster. Delivers asynchronously, like Redis. */
export class MemoryEventBus implements EventBus {
  private readonly fanout = new LocalFanout();

  async publish(events: readonly RunEvent[]): Promise<void> {
    if (events.length === 0) return;
    queueMicrotask(() => this.fanout.deliver(events));
  }

  subscribe(tenantId: string, listener: (event: RunEvent) => void): Unsubscribe {
    return this.fanout.subscribe(tenantId, listener);
  }

  async signalReady(queues: readonly (string | null)[], builtIn?: readonly ReadyBuiltIn[]): Promise<void> {
    if (queues.length === 0) return;
    queueMicrotask(() => this.fanout.deliverReady([...new Set(queues)], builtIn));
  }

  onReady(listener: ReadyListener): Unsubscribe {
    return this.fanout.onReady(listener);
  }

  onResync(listener: () => void): Unsubscribe {
    // In-process delivery loses nothing; the fanout never calls it.
    return this.fanout.onResync(listener);
  }

  async announceRevoked(apiKeyIds: readonly string[]): Promise<void> {
    this.fanout.deliverRevoked(apiKeyIds);
  }

  onRevoked(listener: (apiKeyId: string) => void): Unsubscribe {
    return this.fanout.onRevoked(listener);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
