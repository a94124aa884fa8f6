import { Column, Entity, Generated, Index, PrimaryColumn } from 'typeorm';

/**
 * A run of a workflow with `concurrency`: its group (tenant, `groupKey`) and whether it holds a
 * slot (`admittedAt`). Runs in flight of a group are its admitted rows whose run is not finished;
 * the count is read under the group's lock row (`concurrency_groups`), so it cannot drift: a run
 * that ends, however (result, cancel, timeout, reclaim), frees its slot by ending. Rows of
 * finished runs are deleted by the next admission of their group.
 */
@Entity({ name: 'run_concurrency' })
// A group's runs in arrival order: the admission reads them under the group lock.
@Index('IDX_run_concurrency_group', ['tenantId', 'groupKey', 'seq'])
// Groups with waiting runs: the sweep.
@Index('IDX_run_concurrency_waiting', ['tenantId', 'groupKey'], { where: `"admittedAt" IS NULL` })
// ROUND_ROBIN runs: the claim's turns across keys (roundRobinGateOf) and its gate.
@Index('IDX_run_concurrency_round_robin', ['runId'], { where: `"strategy" = 'ROUND_ROBIN'` })
export class RunConcurrencyEntity {
  @PrimaryColumn({ type: 'uuid' })
  runId: string;

  /** Arrival order in the group (CANCEL_IN_PROGRESS keeps the newest, QUEUE admits the oldest). */
  @Column({ type: 'bigint' })
  @Generated('increment')
  seq: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  /** `<workflow name>/<key value>`: workflow names cannot hold a "/". */
  @Column({ type: 'varchar', length: 400 })
  groupKey: string;

  /** The key's value ('' without a key expression), for `waitingFor`. */
  @Column({ type: 'varchar', length: 256 })
  key: string;

  /** The limit and strategy of the run's workflow version; the group follows its newest run's. */
  @Column({ type: 'int' })
  max: number;

  @Column({ type: 'varchar', length: 32 })
  strategy: string;

  @Column({ type: 'timestamptz' })
  createdAt: Date;

  /** When it took a slot; null while it waits. */
  @Column({ type: 'timestamptz', nullable: true })
  admittedAt: Date | null;
}

/**
 * One row per concurrency group ever used: the row every admission of the group locks, so
 * admissions of one group are serial across replicas (count and admit in one transaction).
 */
@Entity({ name: 'concurrency_groups' })
// The next stamp of `servedSeq` is the greatest one plus one.
@Index('IDX_concurrency_groups_served', ['servedSeq'])
export class ConcurrencyGroupEntity {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  tenantId: string;

  @PrimaryColumn({ type: 'varchar', length: 400 })
  groupKey: string;

  /** When an admission last looked at the group. */
  @Column({ type: 'timestamptz' })
  lockedAt: Date;

  /**
   * ROUND_ROBIN: the claim that last took a task of the group (a stamp growing by claims, 0:
   * never). Claims serve the group served longest ago first, so keys take turns.
   */
  @Column({ type: 'bigint', default: 0 })
  servedSeq: string;
}

/**
 * setQueueLimit: tasks of a tenant's queue RUNNING at once. Every claim of a limited queue locks
 * its row, counts the queue's RUNNING tasks and claims at most the rest, in one transaction.
 */
@Entity({ name: 'queue_limits' })
export class QueueLimitEntity {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  tenantId: string;

  @PrimaryColumn({ type: 'varchar', length: 128 })
  queue: string;

  @Column({ type: 'int' })
  maxInFlight: number;

  @Column({ type: 'timestamptz' })
  updatedAt: Date;
}

/**
 * A task of a step with `concurrency`: its group (`step:<workflow>/<step>/<key value>`) and the
 * group's limit. Written before the run's tasks (a task is never claimable without its row); a
 * claim counts the group's RUNNING tasks under the group's `concurrency_groups` lock. Deleted in
 * the transition that ends its task (written again when retryRun runs it again), so a group's
 * rows are its unfinished tasks only and the count reads no history.
 */
@Entity({ name: 'task_concurrency' })
// A group's tasks: the claim counts those RUNNING.
@Index('IDX_task_concurrency_group', ['tenantId', 'groupKey'])
export class TaskConcurrencyEntity {
  @PrimaryColumn({ type: 'uuid' })
  taskId: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'varchar', length: 400 })
  groupKey: string;

  /** Tasks of the group RUNNING at once, at most. */
  @Column({ type: 'int' })
  max: number;

  /** QUEUE (oldest first) or ROUND_ROBIN (claims take the groups' tasks in turns). */
  @Column({ type: 'varchar', length: 32, default: 'QUEUE' })
  strategy: string;
}
