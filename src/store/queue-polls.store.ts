import type { QueuePoll } from '../domain/waiting';
import type { Sql } from './sql';

/**
 * Records a poll of a queue. A later poll wins; an older one arriving late (another replica's,
 * or a slow request) changes nothing.
 */
export async function recordQueuePoll(sql: Sql, poll: QueuePoll): Promise<void> {
  await sql.rows(
    `INSERT INTO queue_poll ("tenantId", queue, "lastPolledAt", "workerId") VALUES ($1, $2, $3, $4)
     ON CONFLICT ("tenantId", queue) DO UPDATE SET "lastPolledAt" = EXCLUDED."lastPolledAt", "workerId" = EXCLUDED."workerId"
     WHERE queue_poll."lastPolledAt" < EXCLUDED."lastPolledAt"`,
    [poll.tenantId, poll.queue, poll.lastPolledAt, poll.workerId],
  );
}

/** The last polls of a tenant's queues (one query for any number of queues). */
export async function queuePollsOf(sql: Sql, tenantId: string, queues: readonly string[]): Promise<QueuePoll[]> {
  return sql.rows<QueuePoll>(`SELECT * FROM queue_poll WHERE "tenantId" = $1 AND queue = ANY($2::varchar[])`, [tenantId, queues]);
}
