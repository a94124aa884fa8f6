import type { AttemptRecord, RunEvent, RunRecord, TaskRecord, WorkflowRecord } from '../domain/model';
import DataLoader from 'dataloader';
import { ExecutionSlices } from '../primitives/execution-slices';
import type { AuthService, Principal } from '../services/auth.service';
import type { QueuesService } from '../services/queues.service';
import type { EventsService } from '../services/events.service';
import type { WebhookSecretsService } from '../services/webhook-secrets.service';
import type { RunEventsService } from '../services/run-events.service';
import type { RunsService } from '../services/runs.service';
import type { SchedulesService } from '../services/schedules.service';
import type { TasksService } from '../services/tasks.service';
import type { WaitsService } from '../services/waits.service';
import type { ConcurrencyService } from '../services/concurrency.service';
import type { RunConcurrencyWait as ConcurrencyWaitRow } from '../domain/concurrency';
import type { WorkflowsService } from '../services/workflows.service';
import type { QueuePoll } from '../domain/waiting';

/**
 * Built once in the composition root; resolvers reach services only through the context, and the
 * engine only through these services (it is not one of them).
 */
export interface Services {
  workflows: WorkflowsService;
  runs: RunsService;
  runEvents: RunEventsService;
  auth: AuthService;
  tasks: TasksService;
  waits: WaitsService;
  queues: QueuesService;
  events: EventsService;
  webhookSecrets: WebhookSecretsService;
  schedules: SchedulesService;
  concurrency: ConcurrencyService;
}

/** `Run.events` returns at most this many events per run. */
export const RUN_EVENTS_PAGE = 1000;
/** `Run.children` returns at most this many child runs per run. */
export const RUN_CHILDREN_PAGE = 100;

export interface Loaders {
  /** Keyed by run id and `afterSeq`: a page of runs asking the same `afterSeq` is one query. */
  eventsByRun: DataLoader<{ runId: string; afterSeq: number }, RunEvent[], string>;
  attemptsByTask: DataLoader<string, AttemptRecord[]>;
  taskById: DataLoader<string, TaskRecord | undefined>;
  runById: DataLoader<string, RunRecord | undefined>;
  tasksByRun: DataLoader<string, TaskRecord[]>;
  childrenByRun: DataLoader<string, RunRecord[]>;
  workflowById: DataLoader<string, WorkflowRecord | undefined>;
  /** The last poll of a queue of the tenant (undefined: never polled). */
  queuePollByQueue: DataLoader<string, QueuePoll | undefined>;
  /** When the lease of a running attempt expires, by task id and fence (null: none held). */
  leaseExpiryByAttempt: DataLoader<{ taskId: string; fence: string }, Date | null, string>;
  /** Where a run waits for a concurrency slot (undefined: it does not). */
  concurrencyWaitByRun: DataLoader<string, ConcurrencyWaitRow | undefined>;
}

export interface Context {
  tenantId: string;
  /** Who is calling: the API key (or the development-mode anonymous caller), and whether it is an admin. */
  principal?: Principal;
  services: Services;
  loaders: Loaders;
  /** Aborted when the client goes away before the response is sent (ends long polls). */
  signal?: AbortSignal;
  /** Runs `fn` if the response cannot be delivered (the client went away before it was sent); HTTP only. */
  undelivered?: (fn: () => void) => void;
  /** This operation's turns on the event loop (src/graphql/schema.ts); its loaders batch across them. */
  slices: ExecutionSlices;
  /**
   * Gives back this operation's turn among its tenant's requests (BusyShares) before it waits for
   * long (a `claimTasks` long poll); idempotent. Unset where the operation holds none.
   */
  leaveShare?: () => void;
  /** This operation's read lane (src/store/read-lane.ts), made by the first resolver that runs in it. */
  lane?: { readonly tenantId: string };
}

/**
 * Per request (per subscription): DataLoader caches must not outlive a request. Each loader is
 * built on first use: most operations touch one or two of the five, and a subscription context
 * lives as long as its socket (1,000 idle `runEvents` subscribers held 5 loaders each: ~2 KB
 * apiece for nothing, bench scenario 6).
 */
export function createLoaders(services: Services, tenantId: string, slices: ExecutionSlices): Loaders {
  return new LazyLoaders(services, tenantId, slices);
}

/**
 * Resolutions of one operation between two turns of the event loop: a long read gives the loop
 * back this often (src/primitives/execution-slices.ts). A page of 100 runs with tasks and events
 * resolves ~200 fields through resolvers; bench scenario 5's read, a handful.
 */
export const FIELDS_PER_SLICE = 64;

/** Getters on the prototype: an unused loader costs one undefined field, not a closure. */
class LazyLoaders implements Loaders {
  private events?: Loaders['eventsByRun'];
  private attempts?: Loaders['attemptsByTask'];
  private task?: Loaders['taskById'];
  private run?: Loaders['runById'];
  private tasks?: Loaders['tasksByRun'];
  private children?: Loaders['childrenByRun'];
  private workflow?: Loaders['workflowById'];
  private polls?: Loaders['queuePollByQueue'];
  private expiries?: Loaders['leaseExpiryByAttempt'];
  private concurrencyWaits?: Loaders['concurrencyWaitByRun'];

  constructor(
    private readonly services: Services,
    private readonly tenantId: string,
    private readonly slices: ExecutionSlices,
  ) {}

  /** DataLoader options: batches held while the operation's steps wait for their turns. */
  private options<K, C = K>(cacheKeyFn?: (key: K) => C): DataLoader.Options<K, never, C> {
    return cacheKeyFn ? { batchScheduleFn: this.slices.batchSchedule, cacheKeyFn } : { batchScheduleFn: this.slices.batchSchedule };
  }

  get eventsByRun(): Loaders['eventsByRun'] {
    return (this.events ??= new DataLoader(
      async (keys) => {
        // One query per distinct afterSeq in the batch (a page of runs asks one).
        const bySeq = new Map<number, string[]>();
        for (const k of keys) bySeq.set(k.afterSeq, [...(bySeq.get(k.afterSeq) ?? []), k.runId]);
        const results = new Map<number, Map<string, RunEvent[]>>();
        for (const [afterSeq, runIds] of bySeq) results.set(afterSeq, await this.services.runs.eventsOf(this.tenantId, runIds, afterSeq, RUN_EVENTS_PAGE));
        return keys.map((k) => results.get(k.afterSeq)!.get(k.runId) ?? []);
      },
      this.options((k) => `${k.runId}\u0000${k.afterSeq}`),
    ));
  }

  get attemptsByTask(): Loaders['attemptsByTask'] {
    return (this.attempts ??= new DataLoader(async (taskIds) => {
      const byTask = await this.services.runs.attemptsOf(this.tenantId, taskIds);
      return taskIds.map((id) => byTask.get(id) ?? []);
    }, this.options()));
  }

  get taskById(): Loaders['taskById'] {
    return (this.task ??= new DataLoader(async (taskIds) => {
      const byId = await this.services.runs.tasksByIds(this.tenantId, taskIds);
      return taskIds.map((id) => byId.get(id));
    }, this.options()));
  }

  get runById(): Loaders['runById'] {
    return (this.run ??= new DataLoader(async (ids) => {
      const rows = await this.services.runs.byIds(this.tenantId, ids);
      return ids.map((id) => rows.get(id));
    }, this.options()));
  }

  get tasksByRun(): Loaders['tasksByRun'] {
    return (this.tasks ??= new DataLoader(async (runIds) => {
      const byRun = await this.services.runs.tasksOf(this.tenantId, runIds);
      return runIds.map((id) => byRun.get(id) ?? []);
    }, this.options()));
  }

  get childrenByRun(): Loaders['childrenByRun'] {
    return (this.children ??= new DataLoader(async (runIds) => {
      const byRun = await this.services.runs.childrenOf(this.tenantId, runIds, RUN_CHILDREN_PAGE);
      return runIds.map((id) => byRun.get(id) ?? []);
    }, this.options()));
  }

  get workflowById(): Loaders['workflowById'] {
    return (this.workflow ??= new DataLoader(async (ids) => {
      const rows = await this.services.workflows.byIds(ids);
      // A workflow id reached through a run of this tenant; still, never hand out another tenant's.
      return ids.map((id) => {
        const row = rows.get(id);
        return row && row.tenantId === this.tenantId ? row : undefined;
      });
    }, this.options()));
  }

  // waitingFor: a page of runs reads its queues' polls and its leases in one call each.
  get queuePollByQueue(): Loaders['queuePollByQueue'] {
    return (this.polls ??= new DataLoader(async (queues) => {
      const byQueue = await this.services.waits.pollsOf(this.tenantId, queues);
      return queues.map((q) => byQueue.get(q));
    }, this.options()));
  }

  get concurrencyWaitByRun(): Loaders['concurrencyWaitByRun'] {
    return (this.concurrencyWaits ??= new DataLoader(async (runIds) => {
      const byRun = new Map((await this.services.concurrency.waitsOf(this.tenantId, runIds)).map((w) => [w.runId, w]));
      return runIds.map((id) => byRun.get(id));
    }, this.options()));
  }

  get leaseExpiryByAttempt(): Loaders['leaseExpiryByAttempt'] {
    return (this.expiries ??= new DataLoader(
      (refs) => this.services.waits.leaseExpiries(refs.map((r) => ({ ...r, tenantId: this.tenantId }))),
      this.options((r) => `${r.taskId}|${r.fence}`),
    ));
  }
}

export function createContext(
  services: Services,
  tenantId: string,
  signal?: AbortSignal,
  undelivered?: (fn: () => void) => void,
  principal?: Principal,
): Context {
  const slices = new ExecutionSlices(FIELDS_PER_SLICE);
  return { tenantId, services, loaders: createLoaders(services, tenantId, slices), slices, signal, undelivered, principal };
}
