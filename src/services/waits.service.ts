import type { Clock } from '../domain/clock';
import type { QueuePoll } from '../domain/waiting';
import type { LeaseRef, LeaseStore } from '../leases/lease-store';
import type { QueuePolls } from './queue-polls';

/**
 * What `waitingFor` reads besides the task and run rows: the last poll of queues, the expiry of
 * leases, the time, and how old a poll may be before its queue has NO_WORKER. Batched per call:
 * the GraphQL loaders hand it a whole page's queues and leases at once.
 */
export class WaitsService {
  constructor(
    private readonly deps: {
      polls: QueuePolls;
      leases: LeaseStore;
      clock: Clock;
      /** A queue nobody polled for this long has NO_WORKER (NO_WORKER_AFTER_MS). @default 30000 */
      noWorkerAfterMs: number;
    },
  ) {}

  get noWorkerAfterMs(): number {
    return this.deps.noWorkerAfterMs;
  }

  now(): Date {
    return this.deps.clock.now();
  }

  /** One query for any number of a tenant's queues. */
  pollsOf(tenantId: string, queues: readonly string[]): Promise<Map<string, QueuePoll>> {
    return this.deps.polls.of(tenantId, queues);
  }

  /** One lease-store round trip for any number of attempts. */
  leaseExpiries(leases: readonly LeaseRef[]): Promise<(Date | null)[]> {
    return this.deps.leases.expiresAt(leases);
  }
}
