import type { Limits } from '../config/limits';
import { LimitExceededError } from '../domain/errors';
import { checkJson, checkWellFormed } from '../domain/json-limits';
import { compileInputSchema, INPUT_SCHEMA_MAX_BYTES, type InputValidator } from '../domain/input-schema';
import type { WorkflowRecord } from '../domain/model';
import { definitionHash, normalizeDefinition, validateDefinition, WORKFLOW_NAME_PATTERN } from '../domain/dag';
import type { WorkflowDefinition, WorkflowDraft } from '../domain/glossary';
import type { Database, Sql } from '../store/sql';
import { sqlState } from '../store/sql';
import { findLatestWorkflow, findWorkflowVersion, findWorkflowsByIds, insertWorkflow, listLatestWorkflows } from '../store/workflows.store';
import { replaceWorkflowTriggers } from '../store/triggers.store';
import { pageOf, pageWindow, type CursorCodec, type Page, type PageArgs } from './pagination';

/** The configuration defaults, for services built without a config (tools, tests). */
const DEFAULT_DEFINITION_LIMITS = Object.freeze({
  maxJsonDepth: 64,
  maxInputBytes: 1024 * 1024,
  maxDefinitionBytes: 1024 * 1024,
  maxStepsPerWorkflow: 256,
  httpStepMaxTimeoutMs: Number.MAX_SAFE_INTEGER,
});

export class WorkflowsService {
  /** Versions never change once written, so definitions are cached by id without invalidation. */
  private readonly byId = new Map<string, WorkflowRecord>();
  /**
   * The latest version of each (tenant, name) this replica has seen. Only a hint: a start
   * checks it in its insert and reads again when another replica registered a newer one.
   */
  private readonly latest = new Map<string, WorkflowRecord>();
  /** Compiled input schemas by version id: each version's schema is compiled once per replica (versions never change). */
  private readonly validators = new Map<string, InputValidator>();

  constructor(
    private readonly db: Database,
    /** @default the configuration defaults, and no http timeout bound */
    private readonly limits: Pick<
      Limits,
      'maxJsonDepth' | 'maxInputBytes' | 'maxDefinitionBytes' | 'maxStepsPerWorkflow' | 'httpStepMaxTimeoutMs'
    > = DEFAULT_DEFINITION_LIMITS,
  ) {}

  /**
   * Registers a definition: an identical one returns the existing latest version, a changed one
   * creates the next version. Two registrations racing for the same next version are settled by
   * the unique (tenant, name, version) index: the loser retries and sees the winner.
   */
  async register(tenantId: string, draft: WorkflowDraft): Promise<WorkflowRecord> {
    this.checkSizes(draft);
    const { name, definition } = normalizeDefinition(draft, { maxSteps: this.limits.maxStepsPerWorkflow });
    validateDefinition(name, definition, { maxSteps: this.limits.maxStepsPerWorkflow });
    checkHttpStepTimeouts(definition, this.limits.httpStepMaxTimeoutMs);
    // Refused here, not at the first start: an invalid schema is BAD_USER_INPUT at registration.
    const validator = definition.inputSchema === undefined ? null : compileInputSchema(definition.inputSchema);
    const hash = definitionHash(definition);
    for (let attempt = 1; ; attempt++) {
      const latest = await findLatestWorkflow(this.db, tenantId, name);
      if (latest?.definitionHash === hash) return latest;
      try {
        const version = { tenantId, name, version: (latest?.version ?? 0) + 1, description: definition.description, definition, definitionHash: hash };
        // The version and its triggers (the event lookup table) commit together; with no trigger
        // before or now there is nothing to replace, and the insert is one statement as before.
        const row =
          definition.on === undefined && latest?.definition.on === undefined
            ? await insertWorkflow(this.db, version)
            : await this.db.transaction(async (sql) => {
                const inserted = await insertWorkflow(sql, version);
                await replaceWorkflowTriggers(sql, { tenantId, name, id: inserted.id, version: inserted.version, on: definition.on });
                return inserted;
              });
        if (validator) this.validators.set(row.id, validator);
        return row;
      } catch (e: unknown) {
        if (sqlState(e) !== '23505' || attempt >= 10) throw e;
      }
    }
  }

  /**
   * Size, depth and well-formedness of a draft, before anything copies or hashes it (both
   * recurse): each step input within MAX_INPUT_BYTES, the whole within MAX_DEFINITION_BYTES.
   */
  private checkSizes(draft: WorkflowDraft): void {
    const { maxJsonDepth, maxInputBytes, maxDefinitionBytes, maxStepsPerWorkflow } = this.limits;
    const steps: unknown[] = Array.isArray(draft.steps) ? draft.steps : [];
    if (steps.length > maxStepsPerWorkflow) {
      throw new LimitExceededError(
        `Workflow ${JSON.stringify(draft.name)} has ${steps.length} steps; the limit is ${maxStepsPerWorkflow} (MAX_STEPS_PER_WORKFLOW)`,
        {
          limit: 'MAX_STEPS_PER_WORKFLOW',
          max: maxStepsPerWorkflow,
          actual: steps.length,
          reason: 'TOO_MANY_STEPS',
        },
      );
    }
    checkWellFormed('name', draft.name);
    checkWellFormed('description', draft.description);
    if (draft.inputSchema != null) {
      checkJson(draft.inputSchema, {
        what: 'the inputSchema',
        maxDepth: maxJsonDepth,
        maxBytes: Math.min(INPUT_SCHEMA_MAX_BYTES, maxDefinitionBytes),
        bytesLimit: 'INPUT_SCHEMA_MAX_BYTES',
      });
    }
    for (const step of draft.steps ?? []) {
      checkWellFormed('steps.key', step.key);
      checkWellFormed('steps.type', step.type);
      if (step.input !== undefined) {
        checkJson(step.input, {
          what: `the input of step ${JSON.stringify(step.key)}`,
          maxDepth: maxJsonDepth,
          maxBytes: maxInputBytes,
          bytesLimit: 'MAX_INPUT_BYTES',
        });
      }
    }
    // The draft wraps step inputs three levels deep (steps[i].input), so their own depth bound holds.
    checkJson(draft as unknown, {
      what: 'the workflow definition',
      maxDepth: maxJsonDepth + 3,
      maxBytes: maxDefinitionBytes,
      bytesLimit: 'MAX_DEFINITION_BYTES',
    });
  }

  async get(tenantId: string, name: string, version?: number | null): Promise<WorkflowRecord | undefined> {
    return version == null ? findLatestWorkflow(this.db, tenantId, name) : findWorkflowVersion(this.db, tenantId, name, version);
  }

  /** The latest version of each workflow, by name, a page at a time (`pageWindow` says which). */
  async list(tenantId: string, args: PageArgs): Promise<Page<WorkflowRecord>> {
    const window = pageWindow(args, workflowCursor);
    return pageOf(window, await listLatestWorkflows(this.db, tenantId, window), workflowCursor);
  }

  /** The definition of a workflow version, from the cache when it has been seen. */
  /** Inside a transaction pass its `sql`: on embedded PGlite another connection would wait forever. */
  async definitions(ids: readonly string[], sql: Sql): Promise<Map<string, WorkflowDefinition>> {
    const missing = [...new Set(ids)].filter((id) => !this.byId.has(id));
    if (missing.length > 0) {
      for (const row of await findWorkflowsByIds(sql, missing)) this.remember(row);
    }
    const out = new Map<string, WorkflowDefinition>();
    for (const id of ids) {
      const row = this.byId.get(id);
      if (row) out.set(id, row.definition);
    }
    return out;
  }

  /** Outside a transaction only (DataLoader batches). */
  async byIds(ids: readonly string[]): Promise<Map<string, WorkflowRecord>> {
    await this.definitions(ids, this.db);
    return new Map(ids.flatMap((id) => (this.byId.has(id) ? [[id, this.byId.get(id)!] as const] : [])));
  }

  /**
   * The compiled input schema of a version (null: it has none), compiled on first use on this
   * replica and kept while the version is (at most 10k, as the definitions).
   */
  inputValidator(row: WorkflowRecord): InputValidator | null {
    if (row.definition.inputSchema === undefined) return null;
    let validator = this.validators.get(row.id);
    if (!validator) {
      validator = compileInputSchema(row.definition.inputSchema);
      if (this.validators.size >= 10_000) this.validators.delete(this.validators.keys().next().value!);
      this.validators.set(row.id, validator);
    }
    return validator;
  }

  cachedLatest(tenantId: string, name: string): WorkflowRecord | undefined {
    return this.latest.get(latestKey(tenantId, name));
  }

  forgetLatest(tenantId: string, name: string): void {
    this.latest.delete(latestKey(tenantId, name));
  }

  remember(row: WorkflowRecord): void {
    const key = latestKey(row.tenantId, row.name);
    const known = this.latest.get(key);
    if (!known || known.version < row.version) {
      if (this.latest.size >= 10_000 && !known) this.latest.delete(this.latest.keys().next().value!);
      this.latest.set(key, row);
    }
    // Bounded: a long-lived replica sees many versions; 10k definitions is a few MB at most.
    if (this.byId.size >= 10_000) this.byId.delete(this.byId.keys().next().value!);
    this.byId.set(row.id, row);
  }
}

/** Workflows are listed by name; the cursor is the name, tagged so that other strings are refused. */
const WORKFLOW_CURSOR_PREFIX = 'workflow:';
export const workflowCursor: CursorCodec<Pick<WorkflowRecord, 'name'>, string> = {
  encode: (row) => Buffer.from(WORKFLOW_CURSOR_PREFIX + row.name).toString('base64url'),
  decode: (cursor) => {
    const decoded = Buffer.from(cursor, 'base64url').toString();
    const name = decoded.slice(WORKFLOW_CURSOR_PREFIX.length);
    return decoded.startsWith(WORKFLOW_CURSOR_PREFIX) && WORKFLOW_NAME_PATTERN.test(name) ? name : null;
  },
};

function latestKey(tenantId: string, name: string): string {
  return `${tenantId}\u0000${name}`;
}

/**
 * An http step holds a dispatch slot while it waits for its server: its timeout (the step's, or a
 * literal `timeoutMs` in its input) is bounded by HTTP_STEP_MAX_TIMEOUT_MS, so no tenant parks
 * slots for days. A templated `timeoutMs` is checked when the step runs.
 */
function checkHttpStepTimeouts(definition: WorkflowDefinition, max: number): void {
  for (const step of definition.steps) {
    if (step.type !== 'http' || step.queue !== null) continue;
    const input = step.input;
    const fromInput = input !== null && typeof input === 'object' && !Array.isArray(input) ? input['timeoutMs'] : undefined;
    for (const [where, value] of [
      ['timeoutMs', step.timeoutMs],
      ['input.timeoutMs', fromInput],
    ] as const) {
      if (typeof value === 'number' && value > max) {
        throw new LimitExceededError(
          `Step "${step.key}" has ${where} ${value}: http steps may wait at most ${max} ms (HTTP_STEP_MAX_TIMEOUT_MS); lower it, or ask an operator to raise the limit`,
          { limit: 'HTTP_STEP_MAX_TIMEOUT_MS', max, actual: value, step: step.key },
        );
      }
    }
  }
}
