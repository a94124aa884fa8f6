import type { TaskRecord } from '../../domain/model';
import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Json, TaskStatus } from '../../domain/glossary';
import { RunEntity } from './run.entity';

@Entity({ name: 'tasks' })
// One task per step of a run (its items share the key: they are unique by their index), and the
// access path of a transition's load: a run's step tasks without its items.
@Index('UQ_tasks_run_step', ['runId', 'key'], { unique: true, where: `"parentTaskId" IS NULL` })
// All tasks of a run, items included, in order: a run's page (`Run.tasks`), the loads of a whole
// run (cancel, retry, signals) and the cascade of a run's deletion. Without it each of these read
// the whole table (a seq scan: the index above is partial).
@Index('IDX_tasks_run', ['runId', 'position'])
// A fan task's items by index: all of them at fan-in, the next PENDING ones as slots free up.
@Index('UQ_tasks_parent_item', ['parentTaskId', 'itemIndex'], { unique: true, where: `"parentTaskId" IS NOT NULL` })
// The claim query's access path: ready tasks of one queue (NULL = built-in) in availability order.
@Index('IDX_tasks_ready', ['queue', 'availableAt'], { where: `"status" = 'QUEUED'` })
// The claim order with priorities: per queue and level, oldest first (src/store/claim-order.ts).
@Index('IDX_tasks_ready_priority', ['queue', 'priority', 'availableAt'], { where: `"status" = 'QUEUED'` })
// The built-in claim (claimReadyBuiltIn): the tenants with ready built-in work (a skip scan), and
// each tenant's best per level, http steps apart so a tenant at its http share reads none of them.
@Index('IDX_tasks_ready_builtin', ['tenantId', 'priority', 'availableAt'], {
  where: `"status" = 'QUEUED' AND "queue" IS NULL AND "type" NOT IN ('http', 'workflow')`,
})
@Index('IDX_tasks_ready_http', ['tenantId', 'priority', 'availableAt'], { where: `"status" = 'QUEUED' AND "queue" IS NULL AND "type" = 'http'` })
// Ready rate-limited tasks: the keys a claim locks (src/store/rate-limits.store.ts).
@Index('IDX_tasks_rate_limited', ['queue', 'availableAt'], { where: `"status" = 'QUEUED' AND "rateLimitKey" IS NOT NULL` })
// Durable timers (sleep wake-ups) due first.
@Index('IDX_tasks_timer', ['timerAt'], { where: `"timerAt" IS NOT NULL` })
// Running attempts by deadline (step timeouts) and by start (the orphan sweep).
@Index('IDX_tasks_deadline', ['deadlineAt'], { where: `"deadlineAt" IS NOT NULL` })
@Index('IDX_tasks_running', ['startedAt'], { where: `"status" = 'RUNNING'` })
// Tasks of a queue running now: what a claim of a limited queue counts (setQueueLimit).
@Index('IDX_tasks_running_queue', ['tenantId', 'queue'], { where: `"status" = 'RUNNING' AND "queue" IS NOT NULL` })
// `workflow` steps waiting for their child run (the sweep that completes them when a child ended).
@Index('IDX_tasks_child_waiting', ['childRunId'], { where: `"status" = 'RUNNING' AND "childRunId" IS NOT NULL` })
export class TaskEntity implements TaskRecord {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'uuid' })
  runId: string;

  @ManyToOne(() => RunEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'runId' })
  run?: RunEntity;

  /** The step's index in the definition: tasks list in declaration order. */
  @Column({ type: 'int' })
  position: number;

  @Column({ type: 'varchar', length: 64 })
  key: string;

  @Column({ type: 'varchar', length: 128 })
  type: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  queue: string | null;

  @Column({ type: 'varchar', length: 16 })
  status: TaskStatus;

  /** The step's per-attempt bound, copied from the definition so a claim needs no join. */
  @Column({ type: 'int', nullable: true })
  timeoutMs: number | null;

  /** Attempts started so far; the current attempt while RUNNING. */
  @Column({ type: 'int', default: 0 })
  attempt: number;

  /** The step's own failed attempts since the run started or was retried (the maxAttempts budget). */
  @Column({ type: 'int', default: 0 })
  failures: number;

  /** Faults of the system (expired leases) since the run started or was retried (the maxFaults budget). */
  @Column({ type: 'int', default: 0 })
  faults: number;

  /** Fencing token: bumped on every claim, never reset; completions must present the current one. */
  @Column({ type: 'bigint', default: 0 })
  fence: string;

  /** The secret half of the current lease token; null for attempts claimed before tokens had one. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  leaseSecret: string | null;

  /** Resolved input, set when the task becomes ready. */
  @Column({ type: 'jsonb', nullable: true })
  input: Json;

  @Column({ type: 'jsonb', nullable: true })
  output: Json;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** Who holds the current attempt (a worker id, or `conductor:<replica>` for built-ins). */
  @Column({ type: 'varchar', length: 256, nullable: true })
  workerId: string | null;

  /** A QUEUED task is claimable from this instant (retry backoff). */
  @Column({ type: 'timestamptz', nullable: true })
  availableAt: Date | null;

  /** When the current attempt times out (claim + the step's timeoutMs), whatever the heartbeats say. */
  @Column({ type: 'timestamptz', nullable: true })
  deadlineAt: Date | null;

  /** A durable timer on a RUNNING task (a `sleep` step's wake-up, a `signal` step's timeout). */
  @Column({ type: 'timestamptz', nullable: true })
  timerAt: Date | null;

  /** The signal a RUNNING `signal` step waits for (parked: no lease, no slot). */
  @Column({ type: 'varchar', length: 128, nullable: true })
  signalName: string | null;
  /** A `workflow` step: the child run its latest attempt started. */
  @Column({ type: 'uuid', nullable: true })
  childRunId: string | null;

  @Column({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  queuedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  /** An item task: its fan task (the step's own task). */
  @Column({ type: 'uuid', nullable: true })
  parentTaskId: string | null;

  /** An item task: its item of the forEach list. */
  @Column({ type: 'jsonb', nullable: true })
  item: Json;

  /** An item task: its index in the forEach list. */
  @Column({ type: 'int', nullable: true })
  itemIndex: number | null;

  /** A fan task: how many items its list had. */
  @Column({ type: 'int', nullable: true })
  itemCount: number | null;

  /** A fan task: its items not finished yet. */
  @Column({ type: 'int', nullable: true })
  itemsLeft: number | null;

  /** A fan task: its items QUEUED or RUNNING. */
  @Column({ type: 'int', nullable: true })
  itemsActive: number | null;

  /** A fan task that ended: the indexes of its failed items. */
  @Column({ type: 'jsonb', nullable: true })
  failedItems: number[] | null;

  /** 1 to 3: the step's priority, else its run's (src/domain/priorities.ts). */
  @Column({ type: 'int', default: 2 })
  priority: number;

  /** The step's rate-limit key for this task, set when it is queued (src/domain/rate-limits.ts). */
  @Column({ type: 'varchar', length: 256, nullable: true })
  rateLimitKey: string | null;

  /** The step's rate limit (tasks per period), copied at creation. */
  @Column({ type: 'int', nullable: true })
  rateLimitLimit: number | null;

  @Column({ type: 'int', nullable: true })
  rateLimitPeriodMs: number | null;

  /** Equal to availableAt while a claim holds the task back for its rate limit. */
  @Column({ type: 'timestamptz', nullable: true })
  rateLimitedUntil: Date | null;
}
