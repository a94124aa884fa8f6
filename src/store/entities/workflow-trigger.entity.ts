import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * The triggers (`on`) of the latest version of each workflow, one row per trigger: what an event
 * looks up by (tenant, event name) instead of reading every definition. Replaced in the
 * transaction that registers a new version.
 */
@Entity({ name: 'workflow_triggers' })
@Index('IDX_workflow_triggers_event', ['tenantId', 'eventName'])
export class WorkflowTriggerEntity {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  tenantId: string;

  @PrimaryColumn({ type: 'varchar', length: 128 })
  workflowName: string;

  /** The trigger's index in `on`. */
  @PrimaryColumn({ type: 'int' })
  position: number;

  @Column({ type: 'varchar', length: 128 })
  eventName: string;

  @Column({ type: 'text', nullable: true })
  filter: string | null;

  @Column({ type: 'uuid' })
  workflowId: string;

  @Column({ type: 'int' })
  workflowVersion: number;
}
