import type { AttemptRecord, RunEvent, RunRecord, RunTrigger, TaskRecord } from '../domain/model';
import type { Limits } from '../config/limits';
import { checkJson, checkWellFormed } from '../domain/json-limits';
import { DEFAULT_EXPANSION_LIMITS } from '../domain/templates';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../domain/clock';
import { ConflictError, NotFoundError, TemplateError, ValidationError } from '../domain/errors';
import { isUuid } from '../domain/ids';
import { checkInput } from '../domain/input-schema';
import { checkMetadata, normalizeTags } from '../domain/run-metadata';
import type { Json } from '../domain/glossary';
import { planRun, startEvents } from '../domain/run-plan';
import { WORKFLOW_STEP_TYPE } from '../domain/child-runs';
import { MAX_SIGNAL_NAME_LENGTH } from '../domain/dag';
import { listEvents, listEventsOfRuns, numberEvents } from '../store/events.store';
import { findRunByIdempotencyKey, findRunsByIds, insertRun, listRuns, type RunKey, type RunListFilter } from '../store/runs.store';
import { hasCondition } from '../store/run-filter';
import type { Database } from '../store/sql';
import { attemptsOfTasks } from '../store/attempts.store';
import { childrenOfRuns } from '../store/children.store';
import { findTasks, tasksOfRuns } from '../store/tasks.store';
import { findLatestWorkflow, findWorkflowVersion } from '../store/workflows.store';
import { traceparentOf, tracer } from '../observability/tracing';
import type { Engine } from './engine';
import type { StartReservation } from './engine/starts';
import type { StartClaimed } from '../domain/start-claim';
import { gatedSteps, plainReady } from './engine/eager-dispatch';
import type { ReadyBuiltIn } from '../events/event-bus';
import { checkPriority, DEFAULT_PRIORITY } from '../domain/priorities';
import type { WorkflowsService } from './workflows.service';
import type { TenantQuotas } from './quotas';
import { ConcurrencyService, type ConcurrencyEntry } from './concurrency.service';
import { sameRequest, startRequestHash, type StartRequest } from './start-requests';
import { pageOf, pageWindow, type CursorCodec, type Page, type PageArgs } from './pagination';

export interface StartRunInput {
  workflow: string;
  version?: number | null;
  input?: Json;
  idempotencyKey?: string | null;
  /** Labels to find the run by (see domain/run-metadata.ts). @default [] */
  tags?: readonly string[] | null;
  /** A JSON object to find the run by its top-level keys. @default {} */
  metadata?: Json | null;
  /**
   * 1 (low) to 3 (high): its tasks are claimed in this order (a step's own priority overrides it).
   * Not part of what an idempotency key compares. @default 2
   */
  priority?: number | null;
}

/** Cursor of the runs listing: the row's (createdAt, id), opaque to clients. */
export const runCursor: CursorCodec<Pick<RunRecord, 'createdAt' | 'id'>, RunKey> = {
  encode: (run) => Buffer.from(`${run.createdAt.toISOString()}|${run.id}`).toString('base64url'),
  decode: (cursor) => {
    const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
    const createdAt = new Date(at ?? '');
    const year = createdAt.getUTCFullYear();
    if (!id || !isUuid(id) || Number.isNaN(createdAt.getTime()) || year < 1970 || year > 9999) return null;
    return { createdAt, id };
  },
};

/** The configuration defaults, for services built without a config (tools, tests). */
const DEFAULT_RUN_LIMITS = Object.freeze({ maxJsonDepth: 64, maxInputBytes: 1024 * 1024, cancelRunsMax: 1_000, ...DEFAULT_EXPANSION_LIMITS });

/** A runs filter as callers send it (tags and metadata not yet checked). */
export interface RunFilterInput extends Omit<RunListFilter, 'tags' | 'metadata'> {
  tags?: readonly string[] | null;
  metadata?: Json | null;
}

/** The longest `reason` of a bulk cancel, characters (it becomes each run's `error`). */
const MAX_CANCEL_REASON = 1024;

export { startRequestHash } from './start-requests';

/** Runs started by a startRun call. */
const API_TRIGGER: RunTrigger = { kind: 'API' };

export class RunsService {
  private readonly concurrency: ConcurrencyEntry;

  constructor(
    private readonly deps: {
      db: Database;
      workflows: WorkflowsService;
      engine: Engine;
      clock: Clock;
      /** @default the configuration defaults */
      limits?: Pick<Limits, 'maxJsonDepth' | 'maxInputBytes' | 'maxTemplateStringBytes' | 'maxTemplateTaskBytes' | 'cancelRunsMax'>;
      /** Per-tenant quotas on runs in flight and queued tasks. @default none */
      quotas?: TenantQuotas;
      /** MAX_FOREACH_ITEMS, for a root forEach step fanned out at start. @default DEFAULT_MAX_FOREACH_ITEMS */
      maxForEachItems?: number;
      /** Concurrency keys: where a run of a workflow with `concurrency` enters its group. @default a ConcurrencyService on `db` */
      concurrency?: ConcurrencyEntry;
    },
  ) {
    this.concurrency = deps.concurrency ?? new ConcurrencyService({ db: deps.db, clock: deps.clock });
  }

  /**
   * Starts a run of the latest (or the given) version. With an idempotency key, every call of
   * the tenant with that key and the same request returns the same run, also when the calls
   * race: the unique index on (tenantId, idempotencyKey) lets one insert win and the others read
   * it; the key with another workflow, version or input is a CONFLICT naming what differs.
   */
  async start(tenantId: string, req: StartRunInput, opts: { trigger?: RunTrigger } = {}): Promise<RunRecord> {
    const { db, clock } = this.deps;
    const key = req.idempotencyKey ?? null;
    if (req.priority != null) checkPriority(req.priority, 'priority');
    const priority = req.priority ?? DEFAULT_PRIORITY;
    if (key !== null && (key.length === 0 || key.length > 256)) {
      throw new ValidationError('idempotencyKey must be 1 to 256 characters long', { field: 'idempotencyKey' });
    }
    checkWellFormed('idempotencyKey', key);
    const input: Json = req.input ?? {};
    const limits = this.deps.limits ?? DEFAULT_RUN_LIMITS;
    checkJson(input, { what: 'the run input', maxDepth: limits.maxJsonDepth, maxBytes: limits.maxInputBytes, bytesLimit: 'MAX_INPUT_BYTES' });
    const tags = normalizeTags(req.tags);
    const metadata = checkMetadata(req.metadata, limits.maxJsonDepth);
    const request: StartRequest = { workflow: req.workflow, version: req.version ?? null, input, tags, metadata };
    const requestHash = key === null ? null : startRequestHash(request);
    let now = clock.now();
    // The run's root span: a child of the request's span when the request is traced.
    const span = tracer().startSpan('maestro.run', { attributes: { 'maestro.workflow': req.workflow, 'maestro.tenant_id': tenantId } });
    const traceparent = traceparentOf(span);
    const events: RunEvent[] = [];
    const ready: (string | null)[] = [];
    let created = false;
    let startsChildren = false;
    let readyBuiltIn: ReadyBuiltIn[] | undefined;
    let startClaim: { reservation: StartReservation; claim: StartClaimed } | undefined;
    let conditionalRoots = false;
    let held: { tenantId: string; groupKey: string } | undefined;
    let run: RunRecord;
    try {
      // Single statements, no transaction: the run with its tasks and first events is ONE insert
      // (ids made here), so a start is one round trip (two when the workflow is not in memory)
      // instead of seven.
      run = await (async () => {
        if (key !== null) {
          const existing = await findRunByIdempotencyKey(db, tenantId, key);
          if (existing) return sameRequest(existing, key, request, requestHash!);
        }
        // After the idempotency lookup: repeating an accepted start answers its run, over quota or not.
        await this.deps.quotas?.check(tenantId);
        const latest = req.version == null;
        // The latest version comes from this replica's memory when it has seen it; the insert
        // checks that no newer version exists, and if one does we read it and plan again.
        let workflow = latest ? this.deps.workflows.cachedLatest(tenantId, req.workflow) : undefined;
        for (let attempt = 1; ; attempt++) {
          workflow ??= latest ? await findLatestWorkflow(db, tenantId, req.workflow) : await findWorkflowVersion(db, tenantId, req.workflow, req.version!);
          if (!workflow) throw new NotFoundError('Workflow', latest ? req.workflow : `${req.workflow}@${req.version}`);
          this.deps.workflows.remember(workflow);
          const validator = this.deps.workflows.inputValidator(workflow);
          if (validator) checkInput(workflow.name, validator, input);
          let plan;
          try {
            plan = planRun(workflow.definition, input, limits, { newId: randomUUID, maxForEachItems: this.deps.maxForEachItems, priority });
          } catch (e: unknown) {
            if (e instanceof TemplateError) throw new ValidationError(`The run input does not fit the workflow: ${e.message}`, e.data);
            throw e;
          }
          const runId = randomUUID();
          // A run with a concurrency key waits for its slot: every step PENDING, its group row written first.
          held = await this.concurrency.enter(tenantId, runId, workflow, input, now);
          if (held) plan = planRun(workflow.definition, input, limits, { newId: randomUUID, maxForEachItems: this.deps.maxForEachItems, priority, hold: true });
          await this.concurrency.enterTasks(tenantId, workflow, input, plan);
          // The run is created (and its roots maybe claimed) now: not when the request came in,
          // lookups and retries ago (a claimed step's deadline counts from here).
          now = clock.now();
          const deadlineAt = workflow.definition.timeoutMs ? new Date(now.getTime() + workflow.definition.timeoutMs) : null;
          // Eager start: the plain ready built-in roots claimed for this replica's executors in
          // the insert itself (no claim transaction after it), as far as its share has room.
          const gated = gatedSteps(workflow.definition);
          const builtIn = plan.filter((t) => t.status === 'QUEUED' && t.queue === null);
          const plain = builtIn.every((t) => plainReady(t, gated, now));
          let reservation = plain ? this.deps.engine.starts.reserve(tenantId, builtIn, now) : null;
          const cursor = { runId, tenantId, workflowName: workflow.name, lastSeq: 0 };
          let claim: StartClaimed | null;
          let firstEvents: RunEvent[];
          let inserted: RunRecord | undefined;
          try {
            claim = reservation && this.deps.engine.starts.claim(reservation, workflow.definition, { id: runId, input, deadlineAt }, plan, now);
            // The claim could not be made (and its slots went back): the roots wait QUEUED.
            if (!claim) reservation = null;
            firstEvents = numberEvents(cursor, [...startEvents(plan), ...(claim?.events ?? [])], now);
            inserted = await insertRun(
              db,
              {
                id: runId,
                tenantId,
                workflowId: workflow.id,
                workflowName: workflow.name,
                workflowVersion: workflow.version,
                input,
                idempotencyKey: key,
                requestHash,
                tags,
                metadata,
                createdAt: now,
                deadlineAt,
                traceparent,
                lastSeq: cursor.lastSeq,
                parentRunId: null,
                parentTaskId: null,
                depth: 0,
                trigger: opts.trigger ?? API_TRIGGER,
                priority,
                status: claim ? 'RUNNING' : 'PENDING',
                startedAt: claim ? now : null,
              },
              claim?.tasks ?? plan,
              firstEvents,
              latest ? workflow.version : null,
              claim?.attemptsStarted.map((a) => ({ ...a, runId, tenantId, startedAt: now })),
            );
          } finally {
            if (!inserted) this.deps.engine.starts.release(reservation);
          }
          if (inserted) {
            events.push(...firstEvents);
            const claimedIds = new Set(reservation?.taskIds);
            for (const t of plan) if (t.status === 'QUEUED' && !claimedIds.has(t.id)) ready.push(t.queue);
            // The ready built-in roots left by tenant, when a plain claim takes each of them: this
            // replica wakes its dispatcher only if its share for them has room.
            readyBuiltIn = plain ? builtIn.filter((t) => !claimedIds.has(t.id)).map((t) => ({ tenantId, type: t.type })) : undefined;
            if (claim) startClaim = { reservation: reservation!, claim };
            startsChildren = plan.some((t) => t.status === 'QUEUED' && t.type === WORKFLOW_STEP_TYPE);
            if (plan.some((t) => t.rateLimitKey !== null)) this.deps.engine.sawRateLimitedTasks();
            created = true;
            conditionalRoots = workflow.definition.steps.some((s) => s.dependsOn.length === 0 && s.when !== undefined);
            this.deps.quotas?.started(tenantId, ready.length);
            return inserted;
          }
          // Another start with this idempotency key won the race: its run is the answer.
          if (key !== null) {
            const existing = await findRunByIdempotencyKey(db, tenantId, key);
            if (existing) return sameRequest(existing, key, request, requestHash!);
          }
          // A newer version was registered (on any replica): read it and plan again.
          this.deps.workflows.forgetLatest(tenantId, req.workflow);
          workflow = undefined;
          if (attempt >= 5) throw new ConflictError(`Workflow ${req.workflow} keeps changing; start the run again`, { workflow: req.workflow });
        }
      })();
    } catch (e: unknown) {
      span.end();
      throw e;
    }
    span.setAttribute('maestro.run_id', run.id);
    span.end();
    if (created) {
      const announced = this.deps.engine.starts.announce(run, events, ready, { startsChildren, readyBuiltIn, claimed: startClaim });
      // The run is committed: a plain start answers without waiting for its announcement (its
      // events published, its ready roots signalled; the announcement never rejects, it reports
      // its faults, and subscribers fill gaps from the stored history): one round trip fewer.
      if (!held && !conditionalRoots && !startsChildren) return run;
      await announced;
      // Roots with a `when` start PENDING: their conditions are decided by the state machine, in
      // a transition of their own (the start itself is one insert, without it).
      if (held) {
        // Admitted now if its group has room (its roots promoted), else it waits, or its strategy cancels it.
        await this.deps.engine.admit(held.tenantId, held.groupKey);
        run = (await this.get(tenantId, run.id)) ?? run;
      } else if (conditionalRoots) run = await this.deps.engine.promote(run.id);
    }
    return run;
  }

  async cancel(tenantId: string, runId: string): Promise<RunRecord> {
    if (!isUuid(runId)) throw new NotFoundError('Run', runId);
    return this.deps.engine.cancel(tenantId, runId);
  }

  /**
   * Cancels the tenant's unfinished runs matching a filter, at most CANCEL_RUNS_MAX per call, each
   * through the engine's cancel transition; returns how many. An empty filter is refused unless
   * `all` says so: a forgotten filter must not cancel everything.
   */
  async cancelMany(tenantId: string, filter: RunFilterInput, opts: { reason?: string | null; all?: boolean | null } = {}): Promise<number> {
    const reason = opts.reason ?? 'Cancelled by request';
    if (reason.length === 0 || reason.length > MAX_CANCEL_REASON) {
      throw new ValidationError(`reason must be 1 to ${MAX_CANCEL_REASON} characters long`, { field: 'reason' });
    }
    checkWellFormed('reason', reason);
    const checked = this.checkedFilter(filter);
    if (!hasCondition(checked) && opts.all !== true) {
      throw new ValidationError(
        'cancelRuns needs at least one condition in filter (workflow, status, tags, metadata, createdAfter/Before, finishedAfter/Before); ' +
          'to cancel every unfinished run of the tenant, pass all: true',
        { field: 'filter', reason: 'EMPTY_FILTER' },
      );
    }
    const limits = this.deps.limits ?? DEFAULT_RUN_LIMITS;
    return this.deps.engine.cancelRuns(tenantId, checked, limits.cancelRunsMax, reason);
  }

  /** A filter's tags and metadata checked as startRun checks them (BAD_USER_INPUT / LIMIT_EXCEEDED naming the field). */
  private checkedFilter(filter: RunFilterInput): RunListFilter {
    const limits = this.deps.limits ?? DEFAULT_RUN_LIMITS;
    return {
      ...filter,
      tags: normalizeTags(filter.tags, 'filter.tags'),
      metadata: checkMetadata(filter.metadata, limits.maxJsonDepth, 'filter.metadata'),
    };
  }

  async retry(tenantId: string, runId: string): Promise<RunRecord> {
    if (!isUuid(runId)) throw new NotFoundError('Run', runId);
    return this.deps.engine.retryRun(tenantId, runId);
  }

  /**
   * signalRun: the payload is checked like a run input (MAX_INPUT_BYTES, MAX_JSON_DEPTH, storable
   * strings) before anything is locked; the name must be one a signal step of the run waits for.
   */
  async signal(tenantId: string, runId: string, name: string, payload: Json): Promise<RunRecord> {
    if (!isUuid(runId)) throw new NotFoundError('Run', runId);
    if (name.length === 0 || name.length > MAX_SIGNAL_NAME_LENGTH) {
      throw new ValidationError(`The signal name must be 1 to ${MAX_SIGNAL_NAME_LENGTH} characters long`, { field: 'name' });
    }
    checkWellFormed('name', name);
    const limits = this.deps.limits ?? DEFAULT_RUN_LIMITS;
    checkJson(payload, { what: 'the signal payload', maxDepth: limits.maxJsonDepth, maxBytes: limits.maxInputBytes, bytesLimit: 'MAX_INPUT_BYTES' });
    return this.deps.engine.signal(tenantId, runId, name, payload);
  }

  async pause(tenantId: string, runId: string): Promise<RunRecord> {
    if (!isUuid(runId)) throw new NotFoundError('Run', runId);
    return this.deps.engine.pause(tenantId, runId);
  }

  async resume(tenantId: string, runId: string): Promise<RunRecord> {
    if (!isUuid(runId)) throw new NotFoundError('Run', runId);
    return this.deps.engine.resume(tenantId, runId);
  }

  async get(tenantId: string, runId: string): Promise<RunRecord | undefined> {
    return (await this.byIds(tenantId, [runId])).get(runId);
  }

  async getOrThrow(tenantId: string, runId: string): Promise<RunRecord> {
    const run = await this.get(tenantId, runId);
    if (!run) throw new NotFoundError('Run', runId);
    return run;
  }

  /** Keyed by the ids as asked (a uuid in upper case finds its run too). */
  async byIds(tenantId: string, ids: readonly string[]): Promise<Map<string, RunRecord>> {
    const valid = ids.filter(isUuid);
    const rows = valid.length ? await findRunsByIds(this.deps.db, tenantId, valid) : [];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return new Map(valid.flatMap((id) => (byId.has(id.toLowerCase()) ? [[id, byId.get(id.toLowerCase())!] as const] : [])));
  }

  /**
   * The tenant's runs, newest first, a page at a time (`pageWindow` says which). `total: false`
   * (the caller does not show `totalCount`) spares the count of every matching run where the page
   * can do without it.
   */
  async list(tenantId: string, filter: RunFilterInput, args: PageArgs, opts: { total?: boolean } = {}): Promise<Page<RunRecord>> {
    const window = pageWindow(args, runCursor, opts);
    return pageOf(window, await listRuns(this.deps.db, tenantId, this.checkedFilter(filter), window), runCursor);
  }

  /** Tasks of many runs in one query (the DataLoader batch), in declaration order. */
  async tasksOf(tenantId: string, runIds: readonly string[]): Promise<Map<string, TaskRecord[]>> {
    const byRun = new Map<string, TaskRecord[]>();
    const valid = runIds.filter(isUuid);
    if (valid.length > 0) {
      for (const t of await tasksOfRuns(this.deps.db, tenantId, valid)) byRun.set(t.runId, [...(byRun.get(t.runId) ?? []), t]);
    }
    return new Map(runIds.map((id) => [id, byRun.get(id.toLowerCase()) ?? []]));
  }

  /** Child runs of many runs in one query (the DataLoader batch), oldest first, at most `limit` per run. */
  async childrenOf(tenantId: string, runIds: readonly string[], limit: number): Promise<Map<string, RunRecord[]>> {
    const valid = [...new Set(runIds.filter(isUuid).map((id) => id.toLowerCase()))];
    const byRun = new Map<string, RunRecord[]>();
    if (valid.length) {
      for (const r of await childrenOfRuns(this.deps.db, tenantId, valid, limit)) byRun.set(r.parentRunId!, [...(byRun.get(r.parentRunId!) ?? []), r]);
    }
    return new Map(runIds.map((id) => [id, byRun.get(id.toLowerCase()) ?? []]));
  }

  async attemptsOf(tenantId: string, taskIds: readonly string[]): Promise<Map<string, AttemptRecord[]>> {
    const valid = taskIds.filter(isUuid).map((id) => id.toLowerCase());
    const byTask = new Map<string, AttemptRecord[]>();
    if (valid.length) for (const a of await attemptsOfTasks(this.deps.db, tenantId, valid)) byTask.set(a.taskId, [...(byTask.get(a.taskId) ?? []), a]);
    return new Map(taskIds.map((id) => [id, byTask.get(id.toLowerCase()) ?? []]));
  }

  async tasksByIds(tenantId: string, taskIds: readonly string[]): Promise<Map<string, TaskRecord>> {
    const valid = taskIds.filter(isUuid).map((id) => id.toLowerCase());
    const rows = valid.length ? await findTasks(this.deps.db, tenantId, valid) : [];
    const byId = new Map(rows.map((t) => [t.id, t]));
    return new Map(taskIds.flatMap((id) => (byId.has(id.toLowerCase()) ? [[id, byId.get(id.toLowerCase())!] as const] : [])));
  }

  /** Events after `afterSeq` of many runs in one query (the DataLoader batch), at most `limit` per run, oldest first. */
  async eventsOf(tenantId: string, runIds: readonly string[], afterSeq: number, limit: number): Promise<Map<string, RunEvent[]>> {
    const valid = [...new Set(runIds.filter(isUuid).map((id) => id.toLowerCase()))];
    const byRun = new Map<string, RunEvent[]>();
    if (valid.length) {
      for (const e of await listEventsOfRuns(this.deps.db, tenantId, valid, afterSeq, limit)) {
        let list = byRun.get(e.runId);
        if (!list) byRun.set(e.runId, (list = []));
        list.push(e);
      }
    }
    return new Map(runIds.map((id) => [id, byRun.get(id.toLowerCase()) ?? []]));
  }

  async events(tenantId: string, runId: string, afterSeq: number, limit?: number): Promise<RunEvent[]> {
    if (!isUuid(runId)) return [];
    return listEvents(this.deps.db, tenantId, runId.toLowerCase(), afterSeq, limit);
  }
}
