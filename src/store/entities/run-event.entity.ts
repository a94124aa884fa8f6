import type { RunEvent, RunEventKind } from '../../domain/model';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { Json } from '../../domain/glossary';

/** Append-only history of a run: run and task status changes, numbered by `seq` per run. */
@Entity({ name: 'run_events' })
@Index('IDX_run_events_tenant_created', ['tenantId', 'createdAt'])
export class RunEventEntity implements RunEvent {
  @PrimaryColumn({ type: 'uuid' })
  runId: string;

  @PrimaryColumn({ type: 'int' })
  seq: number;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'varchar', length: 128 })
  workflowName: string;

  /** `run.status` or `task.status`. */
  @Column({ type: 'varchar', length: 32 })
  type: RunEventKind;

  @Column({ type: 'varchar', length: 16 })
  status: string;

  @Column({ type: 'uuid', nullable: true })
  taskId: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  taskKey: string | null;

  @Column({ type: 'int', nullable: true })
  attempt: number | null;

  @Column({ type: 'jsonb', nullable: true })
  data: Json;

  @Column({ type: 'timestamptz' })
  createdAt: Date;
}
