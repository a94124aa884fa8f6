import type { Clock } from '../domain/clock';
import type { QueuePoll } from '../domain/waiting';
import { KeyedThrottle } from '../primitives/keyed-throttle';
import { queuePollsOf, recordQueuePoll } from '../store/queue-polls.store';
import type { Database } from '../store/sql';

/** Writes of one queue's poll record per replica, at most one per this interval. */
export const QUEUE_POLL_WRITE_INTERVAL_MS = 1_000;

/**
 * Who polls which queue, durably: `waitingFor` tells a queue nobody serves (NO_WORKER) from one
 * whose workers are busy. A poll is one upsert per queue per second per replica (a worker fleet
 * polling 100 times a second costs one write a second), so `lastPolledAt` may lag by up to a
 * second: nothing next to NO_WORKER_AFTER_MS (30 s by default).
 */
export class QueuePolls {
  private readonly throttle = new KeyedThrottle(QUEUE_POLL_WRITE_INTERVAL_MS);

  constructor(private readonly deps: { db: Database; clock: Clock }) {}

  /** Records that `workerId` polled `queue` now (when the last record of it on this replica is a second old or more). */
  async record(tenantId: string, queue: string, workerId: string): Promise<void> {
    const now = this.deps.clock.now();
    const key = `${tenantId}\u0000${queue}`;
    if (!this.throttle.tryPass(key, now.getTime())) return;
    try {
      await recordQueuePoll(this.deps.db, { tenantId, queue, workerId, lastPolledAt: now });
    } catch (e: unknown) {
      this.throttle.reset(key);
      throw e;
    }
  }

  /** The last poll of each of `queues` that was ever polled, by queue. */
  async of(tenantId: string, queues: readonly string[]): Promise<Map<string, QueuePoll>> {
    if (queues.length === 0) return new Map();
    return new Map((await queuePollsOf(this.deps.db, tenantId, queues)).map((p) => [p.queue, p]));
  }
}
