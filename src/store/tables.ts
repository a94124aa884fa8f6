/**
 * The tables the one-statement writes touch (`writeTransition`, `insertRun`), each described
 * once: every column with its Postgres type as its entity declares it, the key an UPDATE matches
 * on, and which columns a transition writes. Those statements build their column lists, casts and
 * `jsonb_to_recordset` record types from these descriptions once, at module load: the text stays
 * constant, so each connection prepares it once.
 *
 * `test/integration/tables.test.ts` pins each description to its TypeORM entity (names, types,
 * primary key, and every entity column either written by a transition or declared fixed at creation),
 * the way `drift.test.ts` pins the migrations to the entities.
 */
import type { AttemptRecord, RunEvent, RunRecord, TaskRecord } from '../domain/model';
import type { TaskState } from '../domain/run-machine';

/** The column types the writes use, spelled as the entities' `@Column({ type })`. */
export type PgType = 'uuid' | 'varchar' | 'text' | 'int' | 'bigint' | 'jsonb' | 'timestamptz';

type ColumnOf<R> = keyof R & string;

export interface TableDescription<R> {
  /** As the entity's `@Entity({ name })`. */
  readonly name: string;
  /** Every column of the table (the record type's keys, no more, no fewer) with its type. */
  readonly columns: { readonly [C in ColumnOf<R>]: PgType };
  /** The primary key: what a transition's UPDATE matches rows on. */
  readonly primaryKey: readonly ColumnOf<R>[];
  /** The columns a transition sets on an existing row (the SET list of writeTransition's UPDATE). */
  readonly transitionUpdates: readonly ColumnOf<R>[];
  /** The columns of a row a transition adds (writeTransition's INSERT). */
  readonly transitionInserts: readonly ColumnOf<R>[];
}

/**
 * `every<K>()(list)` compiles only when `list` names each member of `K`: a field added to the
 * state a transition carries cannot be left out of the columns it writes.
 */
export function every<K extends string>() {
  return <const L extends readonly K[]>(list: L & ([Exclude<K, L[number]>] extends [never] ? unknown : { missing: Exclude<K, L[number]> })): L => list;
}

export const TASKS = {
  name: 'tasks',
  columns: {
    id: 'uuid',
    tenantId: 'varchar',
    runId: 'uuid',
    position: 'int',
    key: 'varchar',
    type: 'varchar',
    queue: 'varchar',
    status: 'varchar',
    timeoutMs: 'int',
    attempt: 'int',
    failures: 'int',
    faults: 'int',
    fence: 'bigint',
    leaseSecret: 'varchar',
    input: 'jsonb',
    output: 'jsonb',
    error: 'text',
    workerId: 'varchar',
    availableAt: 'timestamptz',
    deadlineAt: 'timestamptz',
    timerAt: 'timestamptz',
    signalName: 'varchar',
    childRunId: 'uuid',
    createdAt: 'timestamptz',
    queuedAt: 'timestamptz',
    startedAt: 'timestamptz',
    finishedAt: 'timestamptz',
    parentTaskId: 'uuid',
    item: 'jsonb',
    itemIndex: 'int',
    itemCount: 'int',
    itemsLeft: 'int',
    itemsActive: 'int',
    failedItems: 'jsonb',
    priority: 'int',
    rateLimitKey: 'varchar',
    rateLimitLimit: 'int',
    rateLimitPeriodMs: 'int',
    rateLimitedUntil: 'timestamptz',
  },
  primaryKey: ['id'],
  // A task's whole state but its identity (`id`, `key`, and an item's place: fixed at insert).
  transitionUpdates: every<Exclude<keyof TaskState, 'id' | 'key' | 'parentTaskId' | 'item' | 'itemIndex'>>()([
    'status',
    'attempt',
    'failures',
    'faults',
    'fence',
    'leaseSecret',
    'input',
    'output',
    'error',
    'workerId',
    'availableAt',
    'timerAt',
    'signalName',
    'childRunId',
    'deadlineAt',
    'queuedAt',
    'startedAt',
    'finishedAt',
    'itemCount',
    'itemsLeft',
    'itemsActive',
    'failedItems',
    'rateLimitKey',
  ]),
  // A forEach step's items, created whole by the transition that fans the step out.
  transitionInserts: every<keyof TaskRecord>()([
    'id',
    'tenantId',
    'runId',
    'position',
    'key',
    'type',
    'queue',
    'status',
    'timeoutMs',
    'attempt',
    'failures',
    'faults',
    'fence',
    'leaseSecret',
    'input',
    'output',
    'error',
    'workerId',
    'availableAt',
    'deadlineAt',
    'timerAt',
    'signalName',
    'childRunId',
    'createdAt',
    'queuedAt',
    'startedAt',
    'finishedAt',
    'parentTaskId',
    'item',
    'itemIndex',
    'itemCount',
    'itemsLeft',
    'itemsActive',
    'failedItems',
    'priority',
    'rateLimitKey',
    'rateLimitLimit',
    'rateLimitPeriodMs',
    'rateLimitedUntil',
  ]),
} as const satisfies TableDescription<TaskRecord>;

export const RUNS = {
  name: 'runs',
  columns: {
    id: 'uuid',
    tenantId: 'varchar',
    workflowId: 'uuid',
    workflowName: 'varchar',
    workflowVersion: 'int',
    status: 'varchar',
    input: 'jsonb',
    output: 'jsonb',
    error: 'text',
    idempotencyKey: 'varchar',
    requestHash: 'varchar',
    tags: 'jsonb',
    metadata: 'jsonb',
    lastSeq: 'int',
    createdAt: 'timestamptz',
    startedAt: 'timestamptz',
    finishedAt: 'timestamptz',
    traceparent: 'varchar',
    deadlineAt: 'timestamptz',
    pausedAt: 'timestamptz',
    parentRunId: 'uuid',
    parentTaskId: 'uuid',
    depth: 'int',
    trigger: 'jsonb',
    priority: 'int',
  },
  primaryKey: ['id'],
  transitionUpdates: ['status', 'output', 'error', 'lastSeq', 'startedAt', 'finishedAt', 'deadlineAt', 'pausedAt'],
  transitionInserts: [],
} as const satisfies TableDescription<RunRecord>;

export const TASK_ATTEMPTS = {
  name: 'task_attempts',
  columns: {
    taskId: 'uuid',
    fence: 'bigint',
    attempt: 'int',
    runId: 'uuid',
    tenantId: 'varchar',
    workerId: 'varchar',
    startedAt: 'timestamptz',
    finishedAt: 'timestamptz',
    outcome: 'varchar',
    error: 'text',
  },
  primaryKey: ['taskId', 'fence'],
  // An attempt begins with who holds it and ends with how it went.
  transitionUpdates: ['outcome', 'error', 'finishedAt'],
  transitionInserts: ['taskId', 'fence', 'attempt', 'runId', 'tenantId', 'workerId', 'startedAt'],
} as const satisfies TableDescription<AttemptRecord>;

export const RUN_EVENTS = {
  name: 'run_events',
  columns: {
    runId: 'uuid',
    seq: 'int',
    tenantId: 'varchar',
    workflowName: 'varchar',
    type: 'varchar',
    status: 'varchar',
    taskId: 'uuid',
    taskKey: 'varchar',
    attempt: 'int',
    data: 'jsonb',
    createdAt: 'timestamptz',
  },
  primaryKey: ['runId', 'seq'],
  transitionUpdates: [],
  // Append-only: an event is written whole, once.
  transitionInserts: every<keyof RunEvent>()([
    'runId',
    'seq',
    'tenantId',
    'workflowName',
    'type',
    'status',
    'taskId',
    'taskKey',
    'attempt',
    'data',
    'createdAt',
  ]),
} as const satisfies TableDescription<RunEvent>;

/** The descriptions the tests pin to the entities. */
export const TABLES: readonly TableDescription<Record<string, unknown>>[] = [TASKS, RUNS, TASK_ATTEMPTS, RUN_EVENTS];

// SQL text from the descriptions. Every identifier is quoted: camelCase columns need it, and a
// column named like a keyword (`type`, `key`) is then never a parse question.

/** `"runId"` */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"id", "status"`, or `t."id", t."status"` with an alias. */
export function columnList(columns: readonly string[], alias?: string): string {
  return columns.map((c) => (alias ? `${alias}.${ident(c)}` : ident(c))).join(', ');
}

/** `"id" uuid, "status" varchar`: the record type of a `jsonb_to_recordset` over these columns. */
export function recordType<R>(table: TableDescription<R>, columns: readonly ColumnOf<R>[]): string {
  return columns.map((c) => `${ident(c)} ${table.columns[c]}`).join(', ');
}

/** `"status" = p."status", …` */
function assignments(columns: readonly string[], from: string): string {
  return columns.map((c) => `${ident(c)} = ${from}.${ident(c)}`).join(', ');
}

/** `t."taskId" = p."taskId" AND t."fence" = p."fence"` */
function keyMatch<R>(table: TableDescription<R>, alias: string, from: string): string {
  return table.primaryKey.map((c) => `${alias}.${ident(c)} = ${from}.${ident(c)}`).join(' AND ');
}

/**
 * `UPDATE <table> <alias> SET <transitionUpdates> FROM jsonb_to_recordset($json) AS p WHERE <the
 * primary key matches> AND <its first column> = ANY($keys)`.
 */
export function updateFromJson<R>(table: TableDescription<R>, alias: string, json: number, keys: number, alsoWhere = ''): string {
  const first = table.primaryKey[0]!;
  return `UPDATE ${ident(table.name)} ${alias} SET ${assignments(table.transitionUpdates, 'p')}
       FROM jsonb_to_recordset($${json}::jsonb) AS p(${recordType(table, [...table.primaryKey, ...table.transitionUpdates])})
       WHERE ${keyMatch(table, alias, 'p')}${alsoWhere} AND ${alias}.${ident(first)} = ANY($${keys}::${table.columns[first]}[])`;
}

/**
 * `INSERT INTO <table> (<transitionInserts>) SELECT … FROM [<from>, ]jsonb_to_recordset($json) AS j`;
 * `from` (another row source) makes the insert happen only when it has rows.
 */
export function insertFromJson<R>(table: TableDescription<R>, json: number, from = ''): string {
  const columns = table.transitionInserts;
  return `INSERT INTO ${ident(table.name)} (${columnList(columns)})
       SELECT ${columnList(columns, 'j')}
       FROM ${from ? `${from}, ` : ''}jsonb_to_recordset($${json}::jsonb) AS j(${recordType(table, columns)})`;
}
