import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** How an attempt ended. FENCED: its lease expired and the holder's late result was refused. */
export const ATTEMPT_OUTCOMES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'LEASE_EXPIRED', 'FENCED', 'CANCELLED', 'RELEASED'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** One attempt at a task: who held it (under which fencing token), when, and how it ended. */
@Entity({ name: 'task_attempts' })
@Index('IDX_task_attempts_run', ['runId'])
export class TaskAttemptEntity {
  @PrimaryColumn({ type: 'uuid' })
  taskId: string;

  /** The fencing token of the claim: unique per task, unlike `attempt`, which retryRun restarts. */
  @PrimaryColumn({ type: 'bigint' })
  fence: string;

  @Column({ type: 'int' })
  attempt: number;

  @Column({ type: 'uuid' })
  runId: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'varchar', length: 256 })
  workerId: string;

  @Column({ type: 'timestamptz' })
  startedAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  /** Null while the attempt runs. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  outcome: AttemptOutcome | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;
}
