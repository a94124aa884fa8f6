import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { FireSource, FireStatus, ScheduleFireRecord } from '../../domain/schedules';
import { ScheduleEntity } from './schedule.entity';

/**
 * One fire time of a schedule, decided once: the unique (scheduleId, fireTime) is what makes a
 * fire time start at most one run across replicas, restarts and clocks slightly apart.
 */
@Entity({ name: 'schedule_fires' })
// Also serves a schedule's recent fires, newest first (Schedule.recentFires, recentRuns).
@Index('UQ_schedule_fires_time', ['scheduleId', 'fireTime'], { unique: true })
// Fires still to start (PENDING) and buffered ones: what the pass takes, oldest first.
@Index('IDX_schedule_fires_open', ['status', 'fireTime'], { where: `"status" IN ('PENDING', 'BUFFERED')` })
// The fires that still count for overlap: what the pass reads, however long the schedule's history.
@Index('IDX_schedule_fires_unsettled', ['scheduleId'], { where: `"settledAt" IS NULL` })
export class ScheduleFireEntity implements ScheduleFireRecord {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'uuid' })
  scheduleId: string;

  @ManyToOne(() => ScheduleEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'scheduleId' })
  schedule?: ScheduleEntity;

  @Column({ type: 'timestamptz' })
  fireTime: Date;

  @Column({ type: 'varchar', length: 16 })
  source: FireSource;

  @Column({ type: 'varchar', length: 16 })
  status: FireStatus;

  /** No foreign key: a run outlives nothing here, and fires outlive pruned runs. */
  @Column({ type: 'uuid', nullable: true })
  runId: string | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ type: 'boolean', default: false })
  cancelPrevious: boolean;

  @Column({ type: 'timestamptz', nullable: true })
  claimedUntil: Date | null;

  /**
   * When the fire stopped counting for overlap: at once when SKIPPED or FAILED, when its run was
   * seen finished for a STARTED one (settled lazily by the pass); null while PENDING, BUFFERED, or
   * STARTED with a run that may still go.
   */
  @Column({ type: 'timestamptz', nullable: true })
  settledAt: Date | null;

  @Column({ type: 'timestamptz' })
  createdAt: Date;
}
