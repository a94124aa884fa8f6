/**
 * Workflow files: YAML or JSON holding what `registerWorkflow(input:)` takes. They are checked
 * locally with the server's own domain validation (`normalizeDefinition`, `compileInputSchema`:
 * the same rules and messages), so a mistake is shown before anything is sent; limits that the
 * server configures (sizes, MAX_STEPS_PER_WORKFLOW) stay the server's to check.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import YAML from 'yaml';
import { definitionHash, normalizeDefinition } from '../../domain/dag';
import { DomainError } from '../../domain/errors';
import { DEFAULT_RETRY, type Json, type StepDraft, type WorkflowDefinition, type WorkflowDraft } from '../../domain/glossary';
import { compileInputSchema } from '../../domain/input-schema';
import { CliError } from './api';

const WORKFLOW_FIELDS = ['name', 'description', 'inputSchema', 'timeoutMs', 'steps'] as const;
const STEP_FIELDS = ['key', 'type', 'queue', 'dependsOn', 'input', 'retry', 'timeoutMs', 'when', 'forEach', 'maxConcurrency', 'continueOnItemFailure'] as const;
const RETRY_FIELDS = Object.keys(DEFAULT_RETRY);

/** The GraphQL selection of a registered workflow: everything a definition holds. */
export const WORKFLOW_FIELDS_QUERY = `id name version description inputSchema timeoutMs createdAt
  steps { key type queue dependsOn input retry { maxAttempts initialDelayMs backoffFactor maxDelayMs maxFaults }
          timeoutMs when forEach maxConcurrency continueOnItemFailure }`;

export interface RegisteredWorkflow {
  id: string;
  name: string;
  version: number;
  description: string | null;
  inputSchema: Json | null;
  timeoutMs: number | null;
  createdAt: string;
  steps: (Omit<StepDraft, 'input'> & { input: Json | null })[];
}

/** Reads and parses a workflow file (`.json` as JSON, anything else as YAML, which JSON is too). */
export function readWorkflowFile(path: string): WorkflowDraft {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e: unknown) {
    throw new CliError('INVALID_FILE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    if (extname(path).toLowerCase() === '.json') parsed = JSON.parse(text);
    else {
      const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
      if (doc.errors.length) throw doc.errors[0]!;
      parsed = doc.toJS();
    }
  } catch (e: unknown) {
    throw new CliError(
      'INVALID_FILE',
      `${path} is not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  return checkShape(path, parsed);
}

/** Unknown or misplaced fields, which GraphQL would refuse without saying much. */
function checkShape(path: string, value: unknown): WorkflowDraft {
  const bad = (where: string, what: string): never => {
    throw new CliError('INVALID_FILE', `${path}: ${where} ${what}`);
  };
  const fields = (where: string, obj: Record<string, unknown>, allowed: readonly string[]) => {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) bad(where, `has no field ${JSON.stringify(k)}; the fields are ${allowed.join(', ')}`);
    }
  };
  if (!isObject(value)) return bad('the workflow', 'must be a mapping with name and steps');
  fields('the workflow', value, WORKFLOW_FIELDS);
  if (typeof value['name'] !== 'string') bad('the workflow', 'needs a name (a string)');
  if (!Array.isArray(value['steps'])) bad('the workflow', 'needs steps (a list)');
  (value['steps'] as unknown[]).forEach((step, i) => {
    if (!isObject(step)) return bad(`steps[${i}]`, 'must be a mapping with key and type');
    fields(`steps[${i}]`, step, STEP_FIELDS);
    if (step['retry'] !== undefined && step['retry'] !== null) {
      if (!isObject(step['retry'])) return bad(`steps[${i}].retry`, `must be a mapping of ${RETRY_FIELDS.join(', ')}`);
      fields(`steps[${i}].retry`, step['retry'], RETRY_FIELDS);
    }
  });
  return value as unknown as WorkflowDraft;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The server's validation, run here: the normalized definition, or the server's own message. */
export function validateLocally(draft: WorkflowDraft): WorkflowDefinition {
  try {
    const { definition } = normalizeDefinition(draft);
    if (definition.inputSchema !== undefined) compileInputSchema(definition.inputSchema);
    return definition;
  } catch (e: unknown) {
    if (e instanceof DomainError) throw new CliError(e.code, e.message, 2, e.data);
    throw e;
  }
}

/** A registered version as the draft that registered it (defaults filled in). */
export function draftOf(w: RegisteredWorkflow): WorkflowDraft {
  return {
    name: w.name,
    description: w.description,
    inputSchema: w.inputSchema,
    timeoutMs: w.timeoutMs,
    steps: w.steps.map((s) => ({ ...s, input: s.input ?? null }) as StepDraft),
  };
}

export interface DefinitionDiff {
  changed: boolean;
  /** A unified diff of the two definitions in YAML; empty when unchanged. */
  patch: string;
}

/** What registering `local` would change, against the registered version (null: none yet). */
export function diffDefinitions(name: string, registered: RegisteredWorkflow | null, local: WorkflowDefinition, localLabel: string): DefinitionDiff {
  const before = registered ? normalizeDefinition(draftOf(registered)).definition : null;
  if (before && definitionHash(before) === definitionHash(local)) return { changed: false, patch: '' };
  const patch = createTwoFilesPatch(
    registered ? `${name} version ${registered.version} (registered)` : `${name} (not registered)`,
    localLabel,
    before ? YAML.stringify(before, { lineWidth: 0 }) : '',
    YAML.stringify(local, { lineWidth: 0 }),
    undefined,
    undefined,
    { context: 3 },
  );
  return { changed: true, patch };
}
