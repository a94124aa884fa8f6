import type { AttemptOutcome, AttemptRecord } from '../../domain/model';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One attempt at a task: who held it (under which fencing token), when, and how it ended. */
@Entity({ name: 'task_attempts' })
@Index('IDX_task_attempts_run', ['runId'])
export class TaskAttemptEntity implements AttemptRecord {
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
