import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { QueuePoll } from '../../domain/waiting';

/**
 * The last poll (claimTasks) of each queue of each tenant: what `waitingFor` reads to tell a queue
 * nobody serves (NO_WORKER) from one whose workers are busy. One row per queue, upserted at most
 * once a second per queue per replica (store/queue-polls.store.ts), so polling costs no write per call.
 */
@Entity({ name: 'queue_poll' })
export class QueuePollEntity implements QueuePoll {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  tenantId: string;

  @PrimaryColumn({ type: 'varchar', length: 128 })
  queue: string;

  /** By the conductor's clock. */
  @Column({ type: 'timestamptz' })
  lastPolledAt: Date;

  /** The worker that polled last. */
  @Column({ type: 'varchar', length: 256 })
  workerId: string;
}
