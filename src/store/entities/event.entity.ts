import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { Json } from '../../domain/glossary';

/**
 * An event received by `publishEvent` or a webhook, kept so that its id starts nothing twice: the
 * primary key (tenantId, id) is the deduplication, across replicas. The payload itself is not
 * kept (it is the input of the runs it started), only its hash, to tell a repeat from a reuse.
 */
@Entity({ name: 'events' })
// The prune pass deletes the oldest first (EVENT_RETENTION_MS).
@Index('IDX_events_received', ['receivedAt'])
export class EventEntity {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  tenantId: string;

  @PrimaryColumn({ type: 'varchar', length: 128 })
  id: string;

  @Column({ type: 'varchar', length: 128 })
  name: string;

  /** EVENT (publishEvent) or WEBHOOK. */
  @Column({ type: 'varchar', length: 16 })
  source: string;

  /** sha256 of the name and canonical payload. */
  @Column({ type: 'varchar', length: 64 })
  payloadHash: string;

  @Column({ type: 'timestamptz' })
  receivedAt: Date;

  /** The workflow versions it matched when it arrived: [{ workflowId, workflow, version }]. */
  @Column({ type: 'jsonb' })
  matched: Json;

  /** What happened: { runs: [{ runId, workflow, version }], refused: [{ workflow, version, code, message }] }; null until every run started. */
  @Column({ type: 'jsonb', nullable: true })
  outcome: Json;

  @Column({ type: 'timestamptz', nullable: true })
  completedAt: Date | null;
}
