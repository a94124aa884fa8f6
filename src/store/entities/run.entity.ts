import type { RunRecord, RunTrigger } from '../../domain/model';
import { Column, Entity, Index, ManyToOne, JoinColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { Json, RunStatus } from '../../domain/glossary';
import { WorkflowEntity } from './workflow.entity';

@Entity({ name: 'runs' })
// Idempotent start: NULLs are distinct in a unique index, so runs without a key never collide.
@Index('UQ_runs_tenant_idempotency_key', ['tenantId', 'idempotencyKey'], { unique: true })
// Listing newest first with a (createdAt, id) cursor.
@Index('IDX_runs_tenant_created', ['tenantId', 'createdAt', 'id'])
@Index('IDX_runs_tenant_status', ['tenantId', 'status'])
// Filters on tags and metadata (containment, @>): GIN with jsonb_path_ops, the smaller and faster operator class for @>.
@Index('IDX_runs_tags', { synchronize: false })
@Index('IDX_runs_metadata', { synchronize: false })
// Filters on when runs finished (finishedAfter / finishedBefore).
@Index('IDX_runs_tenant_finished', ['tenantId', 'finishedAt'], { where: `"finishedAt" IS NOT NULL` })
@Index('IDX_runs_deadline', ['deadlineAt'], { where: `"deadlineAt" IS NOT NULL` })
// Unfinished runs (the runs-active gauge) without scanning history.
@Index('IDX_runs_active', ['status'], { where: `"status" IN ('PENDING', 'RUNNING')` })
// A run's children, oldest first (Run.children).
@Index('IDX_runs_parent', ['parentRunId', 'createdAt'], { where: `"parentRunId" IS NOT NULL` })
// Unfinished child runs by the task that waits for them (the sweep that cancels orphans).
@Index('IDX_runs_active_children', ['parentTaskId'], { where: `"parentTaskId" IS NOT NULL AND "status" IN ('PENDING', 'RUNNING')` })
export class RunEntity implements RunRecord {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'uuid' })
  workflowId: string;

  @ManyToOne(() => WorkflowEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'workflowId' })
  workflow?: WorkflowEntity;

  @Column({ type: 'varchar', length: 128 })
  workflowName: string;

  @Column({ type: 'int' })
  workflowVersion: number;

  @Column({ type: 'varchar', length: 16 })
  status: RunStatus;

  @Column({ type: 'jsonb', nullable: true })
  input: Json;

  @Column({ type: 'jsonb', nullable: true })
  output: Json;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ type: 'varchar', length: 256, nullable: true })
  idempotencyKey: string | null;

  /** SHA-256 (hex) of the canonical startRun request (workflow, version, input) the idempotency key was first used with. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  requestHash: string | null;

  /** Labels from startRun, distinct and sorted (a JSON array of strings: `tags @> '["a"]'` uses the GIN index). */
  @Column({ type: 'jsonb', default: [] })
  tags: string[];

  /** A JSON object from startRun; filters match its top-level keys. */
  @Column({ type: 'jsonb', default: {} })
  metadata: { [key: string]: Json };

  /** Seq of the last event appended; bumped under the run's row lock so seqs have no gaps. */
  @Column({ type: 'int', default: 0 })
  lastSeq: number;

  @Column({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  /** W3C trace context of the run's root span: every span about the run joins this trace. */
  @Column({ type: 'varchar', length: 128, nullable: true })
  traceparent: string | null;

  /** When the run times out (the workflow's timeoutMs after start or retry). */
  @Column({ type: 'timestamptz', nullable: true })
  deadlineAt: Date | null;

  /** When the run was paused (pauseRun); null unless it is PAUSED. */
  @Column({ type: 'timestamptz', nullable: true })
  pausedAt: Date | null;
  /** A child run: the run whose `workflow` step started it. */
  @Column({ type: 'uuid', nullable: true })
  parentRunId: string | null;

  /** A child run: the parent's task that waits for it. */
  @Column({ type: 'uuid', nullable: true })
  parentTaskId: string | null;

  /** Levels of parents above the run (0: started by startRun). */
  @Column({ type: 'int', default: 0 })
  depth: number;

  /** What started it (`RunTrigger`): startRun, a parent, a schedule, an event or a webhook. */
  @Column({ type: 'jsonb', default: { kind: 'API' } })
  trigger: RunTrigger;

  /** 1 (low) to 3 (high), from startRun; default 2 (src/domain/priorities.ts). */
  @Column({ type: 'int', default: 2 })
  priority: number;
}
