import type { SignalRecord } from '../../domain/model';
import { Column, Entity, Generated, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Json } from '../../domain/glossary';
import { RunEntity } from './run.entity';

/** A signal sent to a run (signalRun), kept until a `signal` step of its name consumes it. */
@Entity({ name: 'signals' })
// A run's pending signals of one name, oldest first: what a waiting step consumes (FIFO per name).
@Index('IDX_signals_pending', ['runId', 'name', 'seq'], { where: `"consumedAt" IS NULL` })
export class SignalEntity implements SignalRecord {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'uuid' })
  runId: string;

  @ManyToOne(() => RunEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'runId' })
  run?: RunEntity;

  @Column({ type: 'varchar', length: 128 })
  name: string;

  @Column({ type: 'jsonb', nullable: true })
  payload: Json;

  @Column({ type: 'timestamptz' })
  createdAt: Date;

  /** Send order, from a sequence: two signals sent in one millisecond still have an order (FIFO per name). */
  @Column({ type: 'bigint' })
  @Generated('increment')
  seq: string;

  /** The task whose wait consumed it; null while pending. */
  @Column({ type: 'uuid', nullable: true })
  consumedByTaskId: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  consumedAt: Date | null;
}
