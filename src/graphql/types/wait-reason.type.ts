import { Field, ID, Int, InterfaceType, ObjectType, registerEnumType } from 'type-graphql';
import { WAIT_KINDS, type WaitKind as DomainWaitKind, type WaitReason as DomainWaitReason } from '../../domain/waiting';
import { DateTimeScalar } from '../scalars';

export const WaitKind = Object.fromEntries(WAIT_KINDS.map((k) => [k, k])) as { [K in DomainWaitKind]: K };
registerEnumType(WaitKind, {
  name: 'WaitKind',
  description: 'What a task that has not finished is waiting for (`Task.waitingFor`): the `kind` of a WaitReason.',
  valuesConfig: {
    DEPENDENCIES: { description: 'PENDING: steps it depends on have not succeeded yet (DependenciesWait.stepKeys).' },
    NO_WORKER: {
      description: 'QUEUED on a queue that no worker has polled (claimTasks) for NO_WORKER_AFTER_MS, or ever: start a worker on the queue (NoWorkerWait).',
    },
    DISPATCH: {
      description:
        "QUEUED and claimable: a built-in step waits for one of the conductor's dispatch slots, a queue step for a polling worker to claim it (their capacity is taken).",
    },
    WORKER: { description: 'RUNNING: an attempt is held by a worker (or the conductor, for a built-in step) under a lease (WorkerWait).' },
    RETRY_BACKOFF: { description: 'QUEUED after a failed attempt: the retry delay has not passed yet (RetryBackoffWait.until).' },
    SLEEP: { description: 'RUNNING a `sleep` step: its durable timer fires at `until`.' },
    SIGNAL: { description: 'RUNNING a `signal` step: waits for signalRun with its name (SignalWait.name) until `until` (its timeout; null: none).' },
    CHILD_RUN: { description: 'RUNNING a `workflow` step: waits for the child run it started (ChildRunWait.childRunId) to finish.' },
    CONCURRENCY: {
      description:
        "PENDING under a concurrency limit: an item of a forEach step waits for a place under the step's maxConcurrency, or the run waits for a slot " +
        'of its workflow concurrency key (ConcurrencyWait: key, position, holders).',
    },
    ITEMS: { description: "RUNNING a forEach step's own task: waits for its items (ItemsWait), each an item task with its own `waitingFor`." },
    RATE_LIMIT: {
      description:
        "QUEUED over its step's rate limit (StepInput.rateLimit): it may start at `until` (RateLimitWait.key names the limit's key); it is not failed.",
    },
    RUN_PAUSED: {
      description:
        'The run is PAUSED (pauseRun): the task starts (or its due timer fires) only after resumeRun. Running attempts and signal waits go on meanwhile.',
    },
  },
});

const TYPE_OF_KIND: Record<DomainWaitKind, string> = {
  DEPENDENCIES: 'DependenciesWait',
  NO_WORKER: 'NoWorkerWait',
  DISPATCH: 'DispatchWait',
  WORKER: 'WorkerWait',
  RETRY_BACKOFF: 'RetryBackoffWait',
  SLEEP: 'SleepWait',
  SIGNAL: 'SignalWait',
  CHILD_RUN: 'ChildRunWait',
  ITEMS: 'ItemsWait',
  CONCURRENCY: 'ConcurrencyWait',
  RUN_PAUSED: 'RunPausedWait',
  RATE_LIMIT: 'RateLimitWait',
};

@InterfaceType({
  description:
    "Why a task has not finished: what it waits for, from the conductor's durable state. `kind` says which; each kind's type adds its details " +
    '(query them with `... on NoWorkerWait { queue lastPolledAt }`).',
  resolveType: (value: DomainWaitReason) => TYPE_OF_KIND[value.kind],
})
export abstract class WaitReason {
  @Field(() => WaitKind, { description: 'What it waits for.' })
  kind: DomainWaitKind;

  @Field(() => ID, { description: 'The waiting task.' })
  taskId: string;

  @Field({ description: "The waiting task's step key." })
  taskKey: string;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description: 'Since when it waits this way: when the task was created (DEPENDENCIES), last queued (QUEUED kinds) or its attempt started (RUNNING kinds).',
  })
  since: Date | null;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description:
      'When the wait ends by itself: the end of a retry delay (RETRY_BACKOFF), the instant a rate limit lets it start (RATE_LIMIT), the timer of a sleep (SLEEP), the timeout of a signal step (SIGNAL). ' +
      'Null when only an event ends it (a dependency finishing, a worker polling or reporting, a signal without timeout, resumeRun).',
  })
  until?: Date | null;
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: 'DEPENDENCIES: steps it depends on have not succeeded yet.' })
export class DependenciesWait extends WaitReason {
  @Field(() => [String], { description: 'The keys of the steps it depends on that have not succeeded yet, in its dependsOn order.' })
  stepKeys: string[];
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: 'NO_WORKER: no worker has polled its queue for NO_WORKER_AFTER_MS, or ever.' })
export class NoWorkerWait extends WaitReason {
  // Nullable like DispatchWait.queue (never null here): one selection `queue` may cover both types.
  @Field(() => String, { nullable: true, description: 'The queue a worker must poll (claimTasks) to take it (never null here).' })
  queue: string;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When a worker last polled the queue (to within a second); null: never.' })
  lastPolledAt: Date | null;

  @Field(() => String, { nullable: true, description: 'The worker that polled it last; null: none ever did.' })
  lastWorkerId: string | null;
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: 'DISPATCH: claimable now, waiting for a worker or dispatch slot to take it.' })
export class DispatchWait extends WaitReason {
  @Field(() => String, { nullable: true, description: "Its queue; null for a built-in step (the conductor's own dispatch)." })
  queue: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When a worker last polled the queue (to within a second); null for a built-in step.' })
  lastPolledAt: Date | null;
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: 'WORKER: an attempt is running, held under a lease.' })
export class WorkerWait extends WaitReason {
  @Field({ description: 'Who holds the attempt: the workerId of a remote worker, or `conductor:<replica id>` for a built-in step.' })
  workerId: string;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description:
      'When its lease expires unless renewed (a past time: expired, about to be reclaimed), by the lease store clock; null when the lease store has none.',
  })
  leaseExpiresAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: "When the attempt times out (the step's timeoutMs), whatever the heartbeats; null: no bound." })
  deadlineAt: Date | null;
}

@ObjectType({
  implements: WaitReason,
  simpleResolvers: true,
  description: 'RETRY_BACKOFF: a failed attempt is followed by a retry delay, which ends at `until`.',
})
export class RetryBackoffWait extends WaitReason {
  @Field(() => String, { nullable: true, description: 'Why the previous attempt failed.' })
  error: string | null;

  @Field(() => Int, { description: 'The attempt that failed (the next one is this plus one).' })
  attempt: number;
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: 'SLEEP: a `sleep` step waits for its durable timer, which fires at `until`.' })
export class SleepWait extends WaitReason {}

@ObjectType({
  implements: WaitReason,
  simpleResolvers: true,
  description: 'SIGNAL: a `signal` step waits for signalRun with its name, until `until` (its timeout).',
})
export class SignalWait extends WaitReason {
  @Field({ description: 'The signal name to send with signalRun(id, name, payload).' })
  name: string;
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: 'CHILD_RUN: a `workflow` step waits for its child run to finish.' })
export class ChildRunWait extends WaitReason {
  @Field(() => ID, { description: 'The child run (`run(id:)`, or `Task.childRun`): its own `waitingFor` says what it waits for.' })
  childRunId: string;
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: "ITEMS: a forEach step's own task waits for its item tasks to end." })
export class ItemsWait extends WaitReason {
  @Field(() => Int, { description: 'Items the step fanned out to.' })
  itemCount: number;

  @Field(() => Int, { description: 'Items that have not ended yet.' })
  itemsLeft: number;

  @Field(() => Int, { description: "Items QUEUED or RUNNING now (at most the step's maxConcurrency)." })
  itemsActive: number;
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: 'CONCURRENCY: held back by a concurrency limit until a place frees up.' })
export class ConcurrencyWait extends WaitReason {
  @Field({ description: "Which limit: `maxConcurrency` (a forEach step's) or `workflow.concurrency` (the run waits for a slot of its concurrency key)." })
  limit: string;

  @Field(() => Int, { nullable: true, description: 'Its value.' })
  max: number | null;

  @Field(() => String, { nullable: true, description: "`workflow.concurrency`: the run's key value ('' without a key expression); null otherwise." })
  key?: string | null;

  @Field(() => Int, { nullable: true, description: '`workflow.concurrency`: 1 for the next run of the key to start; null otherwise.' })
  position?: number | null;

  @Field(() => [ID], { nullable: true, description: '`workflow.concurrency`: the runs of the key holding its slots now, oldest first; null otherwise.' })
  holders?: string[] | null;
}

@ObjectType({ implements: WaitReason, simpleResolvers: true, description: 'RUN_PAUSED: the run is PAUSED; resumeRun continues it.' })
export class RunPausedWait extends WaitReason {
  @Field(() => DateTimeScalar, { nullable: true, description: 'When the run was paused.' })
  pausedAt: Date | null;
}

@ObjectType({
  implements: WaitReason,
  simpleResolvers: true,
  description: "RATE_LIMIT: its step's rate limit holds it back; it becomes claimable at `until` (other tasks with the key may take the turn first).",
})
export class RateLimitWait extends WaitReason {
  @Field({ description: 'The rate-limit key it counts against (StepInput.rateLimit.key, evaluated for this task).' })
  key: string;
}

/** Every concrete type: the schema includes them even where no field names them. */
export const WAIT_REASON_TYPES = [
  DependenciesWait,
  NoWorkerWait,
  DispatchWait,
  WorkerWait,
  RetryBackoffWait,
  SleepWait,
  SignalWait,
  ChildRunWait,
  ItemsWait,
  ConcurrencyWait,
  RunPausedWait,
  RateLimitWait,
];
