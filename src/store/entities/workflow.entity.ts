import type { WorkflowRecord } from '../../domain/model';
import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { WorkflowDefinition } from '../../domain/glossary';

/** One version of a workflow definition; versions are immutable once written. */
@Entity({ name: 'workflows' })
@Index('UQ_workflows_tenant_name_version', ['tenantId', 'name', 'version'], { unique: true })
export class WorkflowEntity implements WorkflowRecord {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'varchar', length: 128 })
  name: string;

  @Column({ type: 'int' })
  version: number;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ type: 'jsonb' })
  definition: WorkflowDefinition;

  /** sha256 of the canonical definition: registering an identical one returns this version. */
  @Column({ type: 'varchar', length: 64 })
  definitionHash: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
