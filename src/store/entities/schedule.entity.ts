import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { Json } from '../../domain/glossary';
import type { OverlapPolicy, ScheduleRecord } from '../../domain/schedules';

/** A cron schedule of a tenant (createSchedule): the scheduler pass fires it at `nextFireAt`. */
@Entity({ name: 'schedules' })
// The scheduler pass: due schedules, soonest first, without scanning paused or finished ones.
@Index('IDX_schedules_next_fire', ['nextFireAt'], { where: `"nextFireAt" IS NOT NULL` })
@Index('IDX_schedules_tenant', ['tenantId', 'id'])
export class ScheduleEntity implements ScheduleRecord {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'varchar', length: 128 })
  workflow: string;

  @Column({ type: 'int', nullable: true })
  version: number | null;

  @Column({ type: 'varchar', length: 256 })
  cron: string;

  @Column({ type: 'varchar', length: 64 })
  timezone: string;

  @Column({ type: 'jsonb', nullable: true })
  input: Json;

  @Column({ type: 'varchar', length: 16 })
  overlap: OverlapPolicy;

  @Column({ type: 'boolean', default: false })
  paused: boolean;

  @Column({ type: 'timestamptz', nullable: true })
  startAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  endAt: Date | null;

  @Column({ type: 'int' })
  catchupWindowMs: number;

  @Column({ type: 'timestamptz', nullable: true })
  nextFireAt: Date | null;

  @Column({ type: 'int', default: 0 })
  skippedCount: number;

  @Column({ type: 'int', default: 0 })
  missedCount: number;

  @Column({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz' })
  updatedAt: Date;
}
