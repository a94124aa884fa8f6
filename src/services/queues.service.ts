import { queuesOf, queueWorkersOf, type QueueRow, type QueueWorkerRow } from '../store/queues.store';
import type { Database } from '../store/sql';

/** A queue of a tenant with the workers holding its tasks now. */
export interface QueueView extends QueueRow {
  workers: Omit<QueueWorkerRow, 'queue'>[];
}

/** What the tenant's queues hold and who works on them (the console's queues page, `Query.queues`). */
export class QueuesService {
  constructor(private readonly deps: { db: Database }) {}

  async list(tenantId: string): Promise<QueueView[]> {
    const [queues, workers] = await Promise.all([queuesOf(this.deps.db, tenantId), queueWorkersOf(this.deps.db, tenantId)]);
    const byQueue = new Map<string | null, Omit<QueueWorkerRow, 'queue'>[]>();
    for (const { queue, ...w } of workers) {
      const list = byQueue.get(queue) ?? [];
      list.push(w);
      byQueue.set(queue, list);
    }
    return queues.map((q) => ({ ...q, workers: byQueue.get(q.queue) ?? [] }));
  }
}
