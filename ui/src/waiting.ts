import { ago, time } from './format';

/** A `WaitReason` of the API (the kinds' own fields are optional here: each kind has its own). */
export interface WaitReason {
  kind: string;
  taskId: string;
  taskKey: string;
  since: string | null;
  until: string | null;
  stepKeys?: string[];
  queue?: string | null;
  lastPolledAt?: string | null;
  lastWorkerId?: string | null;
  workerId?: string;
  leaseExpiresAt?: string | null;
  deadlineAt?: string | null;
  error?: string | null;
  attempt?: number;
  name?: string;
  childRunId?: string;
  itemCount?: number;
  itemsLeft?: number;
  itemsActive?: number;
  limit?: string;
  max?: number | null;
  key?: string | null;
  position?: number | null;
  holders?: string[] | null;
  /** RateLimitWait.key (aliased: ConcurrencyWait.key is nullable). */
  rateLimitKey?: string;
  pausedAt?: string | null;
}

/** One sentence per wait, the way an operator would say it. */
export function waitInWords(w: WaitReason, now = Date.now()): string {
  const step = `“${w.taskKey}”`;
  switch (w.kind) {
    case 'DEPENDENCIES':
      return `${step} waits for ${(w.stepKeys ?? []).map((k) => `“${k}”`).join(', ') || 'the steps it depends on'} to succeed.`;
    case 'NO_WORKER':
      return w.lastPolledAt
        ? `${step} is queued on “${w.queue}”, but no worker has polled it since ${ago(w.lastPolledAt, now)} (last: ${w.lastWorkerId}). Start a worker on that queue.`
        : `${step} is queued on “${w.queue}”, which no worker has ever polled. Start a worker on that queue.`;
    case 'DISPATCH':
      return w.queue
        ? `${step} is ready on “${w.queue}” and waits for a free worker (its workers are busy; last poll ${ago(w.lastPolledAt, now)}).`
        : `${step} is ready and waits for one of the conductor's dispatch slots.`;
    case 'WORKER':
      return `${step} is running on ${w.workerId}${w.leaseExpiresAt ? `, lease until ${time(w.leaseExpiresAt)}` : ''}${w.deadlineAt ? `, deadline ${time(w.deadlineAt)}` : ''}.`;
    case 'RETRY_BACKOFF':
      return `${step} failed attempt ${w.attempt}${w.error ? ` (${w.error})` : ''} and retries at ${time(w.until)}.`;
    case 'SLEEP':
      return `${step} sleeps until ${time(w.until)}.`;
    case 'SIGNAL':
      return `${step} waits for the signal “${w.name}”${w.until ? ` until ${time(w.until)}` : ''}: send it with “Send signal”.`;
    case 'CHILD_RUN':
      return `${step} waits for its child run ${w.childRunId} to finish.`;
    case 'ITEMS':
      return `${step} fans out: ${w.itemsLeft} of ${w.itemCount} items left, ${w.itemsActive} running.`;
    case 'CONCURRENCY':
      if (w.position != null) {
        const key = w.key ? ` “${w.key}”` : '';
        const held = w.holders?.length ? `, held by ${w.holders.length === 1 ? 'run' : 'runs'} ${w.holders.join(', ')}` : '';
        return `The run waits for a slot of its concurrency key${key} (number ${w.position} in line${w.max != null ? `, at most ${w.max} at once` : ''}${held}).`;
      }
      return `${step} waits for a slot of the concurrency limit ${w.limit}${w.max != null ? ` (at most ${w.max})` : ''}.`;
    case 'RATE_LIMIT':
      return `${step} is held by the rate limit “${w.rateLimitKey}” and may start at ${time(w.until)}.`;
    case 'RUN_PAUSED':
      return `${step} is held because the run was paused${w.pausedAt ? ` ${ago(w.pausedAt, now)}` : ''}: resume it to go on.`;
    default:
      return `${step} waits (${w.kind}).`;
  }
}
