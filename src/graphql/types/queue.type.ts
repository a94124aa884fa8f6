import { Field, Int, ObjectType } from 'type-graphql';
import type { QueueView } from '../../services/queues.service';

@ObjectType({ simpleResolvers: true, description: 'A worker holding RUNNING tasks of a queue now (under a lease).' })
export class QueueWorker {
  @Field({ description: 'The worker id it claimed with (claimTasks `workerId`; `conductor:…` for built-in steps).' })
  workerId: string;

  @Field(() => Int, { description: 'How many RUNNING tasks of the queue it holds.' })
  tasks: number;

  @Field({ description: 'When the most recent of those attempts started.' })
  lastStartedAt: Date;
}

@ObjectType({
  simpleResolvers: true,
  description: 'A queue of the tenant: what waits on it, what runs, and who polls and works on it.',
})
export class Queue {
  @Field(() => String, { nullable: true, description: "The queue's name; null for the conductor's built-in steps (noop, sleep, http…)." })
  name: string | null;

  @Field(() => Int, { description: 'QUEUED tasks, including those whose retry delay has not passed yet.' })
  depth: number;

  @Field(() => Int, { description: 'RUNNING tasks: attempts held by a worker under a lease.' })
  running: number;

  @Field(() => Date, { nullable: true, description: 'When the longest-waiting QUEUED task was queued; null when none waits.' })
  oldestQueuedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When a worker last polled the queue (claimTasks); null if none ever did. Lags by up to a second.' })
  lastPolledAt: Date | null;

  @Field(() => String, { nullable: true, description: 'The worker id of that last poll.' })
  lastPollWorkerId: string | null;

  @Field(() => [QueueWorker], { description: 'The workers holding RUNNING tasks of the queue now, by worker id.' })
  workers: QueueWorker[];
}

export function toQueue(q: QueueView): Queue {
  return {
    name: q.queue,
    depth: q.depth,
    running: q.running,
    oldestQueuedAt: q.oldestQueuedAt,
    lastPolledAt: q.lastPolledAt,
    lastPollWorkerId: q.lastPollWorkerId,
    workers: q.workers,
  };
}
