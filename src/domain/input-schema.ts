/**
 * Input contracts: a workflow's `inputSchema` (JSON Schema, draft 2020-12) checked at
 * registration and compiled once per workflow version; `startRun` inputs validated against it.
 *
 * Schemas come from tenants, so the validator is set up for untrusted schemas:
 * - no remote `$ref`: ajv loads nothing it is not given (no `loadSchema`); a `$ref` it cannot
 *   resolve inside the schema is refused at registration (INVALID_INPUT_SCHEMA);
 * - `pattern` and `patternProperties` run on RE2 (re2js: linear-time matching, no catastrophic
 *   backtracking), so no schema can stall the event loop on a crafted input; patterns RE2 cannot
 *   run (lookaround, back-references) are refused at registration;
 * - size and depth are bounded before compiling (INPUT_SCHEMA_MAX_BYTES, MAX_JSON_DEPTH);
 * - `uniqueItems` needs scalar `items` (compared through a map) or `maxItems` up to
 *   {@link UNIQUE_ITEMS_MAX_PAIRWISE}: over objects or arrays ajv compares every pair, and 20,000
 *   items took 9 s of event loop (a 1 MB input holds 300,000: most of an hour);
 * - one ajv instance, each schema removed from it right after compiling: a `$id` of one tenant's
 *   schema is never visible to another's `$ref`.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { RE2JS } from 're2js';
import { ValidationError } from './errors';
import type { Json } from './glossary';

/** Bytes of JSON of one input schema at most: larger ones are refused at registration. 64 KiB holds schemas of hundreds of properties. */
export const INPUT_SCHEMA_MAX_BYTES = 64 * 1024;
/** `maxItems` at most of a `uniqueItems` array whose items may be objects or arrays (compared pairwise: 500,000 comparisons). */
export const UNIQUE_ITEMS_MAX_PAIRWISE = 1000;
/** Violations listed in one refusal at most (extensions.errors); `truncated` says when there were more. */
export const MAX_LISTED_VIOLATIONS = 50;

/** One rule an input broke: where (a JSON Pointer into the input, "" for the whole), which keyword, and what it says. */
/** A compiled input schema. */
export type InputValidator = ValidateFunction;

export interface SchemaViolation {
  path: string;
  rule: string;
  message: string;
}

/**
 * RE2 in place of the JavaScript RegExp (see the module comment). ajv keys its compiled patterns
 * by `toString()`: each must name its own pattern, or every pattern would share the first one.
 */
const re2: { (pattern: string, _u: string): { test(s: string): boolean }; code: string } = Object.assign(
  (pattern: string) => {
    const compiled = RE2JS.compile(pattern);
    return { test: (s: string) => compiled.test(s), toString: () => `re2:${pattern}` };
  },
  { code: 'require("re2js").RE2JS.compile' },
);

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    // Unknown keywords (a typo like "requried") are refused, not silently ignored.
    strict: true,
    strictRequired: false,
    strictTypes: false,
    strictTuples: false,
    validateFormats: true,
    code: { regExp: re2 },
  });
  addFormats(ajv);
  return ajv;
}

/**
 * ajv keeps what it compiled (patterns, formats, code) in its instance for the instance's life:
 * a fresh one every 500 schemas bounds that memory. Validators compiled earlier keep working.
 */
const COMPILES_PER_INSTANCE = 500;
let shared: Ajv2020 | undefined;
let compiles = 0;
const ajv = (): Ajv2020 => {
  if (!shared || ++compiles > COMPILES_PER_INSTANCE) {
    shared = newAjv();
    compiles = 1;
  }
  return shared;
};

/**
 * Compiles a schema into a validator, or refuses it (ValidationError, reason INVALID_INPUT_SCHEMA,
 * the message saying what is wrong). The caller bounded its size and depth first.
 */
export function compileInputSchema(schema: Json): ValidateFunction {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw invalid('it must be a JSON object (a JSON Schema, draft 2020-12)');
  }
  checkUniqueItems(schema);
  const instance = ajv();
  try {
    return instance.compile(schema);
  } catch (e: unknown) {
    throw invalid(e instanceof Error ? e.message : String(e));
  } finally {
    instance.removeSchema(schema);
  }
}

/** The rules an input breaks (empty: it fits). */
export function inputViolations(validate: ValidateFunction, input: Json): SchemaViolation[] {
  if (validate(input)) return [];
  return (validate.errors ?? []).map(violationOf);
}

/** Refuses an input that does not fit its workflow's schema: BAD_USER_INPUT listing each path and rule. */
export function checkInput(workflow: string, validate: ValidateFunction, input: Json): void {
  const violations = inputViolations(validate, input);
  if (violations.length === 0) return;
  const listed = violations.slice(0, MAX_LISTED_VIOLATIONS);
  const first = listed[0]!;
  const more = violations.length > 1 ? ` (and ${violations.length - 1} more: see extensions.errors)` : '';
  throw new ValidationError(
    `The run input does not fit the inputSchema of workflow ${JSON.stringify(workflow)}: ${first.path || '(the input)'} ${first.message}${more}`,
    { reason: 'INPUT_SCHEMA_VIOLATION', errors: listed as unknown as Json, ...(violations.length > listed.length ? { truncated: true } : {}) },
  );
}

/** Where the rule broke: ajv's instancePath, pointing at the missing or extra property itself when it is one. */
function violationOf(e: ErrorObject): SchemaViolation {
  const params = e.params as Record<string, unknown>;
  const child = e.keyword === 'required' ? params['missingProperty'] : e.keyword === 'additionalProperties' ? params['additionalProperty'] : undefined;
  const path = typeof child === 'string' ? `${e.instancePath}/${child.replace(/~/g, '~0').replace(/\//g, '~1')}` : e.instancePath;
  return { path, rule: e.keyword, message: e.message ?? `breaks ${e.keyword}` };
}

const SCALAR_TYPES: ReadonlySet<unknown> = new Set(['string', 'number', 'integer', 'boolean', 'null']);

/** Refuses a `uniqueItems` that ajv would check by comparing every pair of a long array (see the module comment). */
function checkUniqueItems(schema: Json): void {
  const stack: Json[] = [schema];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      stack.push(...node);
      continue;
    }
    if (node['uniqueItems'] === true) {
      const items = node['items'];
      const type = items !== null && typeof items === 'object' && !Array.isArray(items) ? items['type'] : undefined;
      const scalar = Array.isArray(type) ? type.length > 0 && type.every((t) => SCALAR_TYPES.has(t)) : SCALAR_TYPES.has(type);
      const bounded = typeof node['maxItems'] === 'number' && node['maxItems'] <= UNIQUE_ITEMS_MAX_PAIRWISE;
      if (!scalar && !bounded) {
        throw invalid(
          `"uniqueItems" needs "items" of a scalar "type" (string, number, integer, boolean, null) or "maxItems" of at most ${UNIQUE_ITEMS_MAX_PAIRWISE}: items that may be objects or arrays are compared pair by pair`,
        );
      }
    }
    stack.push(...Object.values(node));
  }
}

function invalid(why: string): ValidationError {
  return new ValidationError(`inputSchema is not a valid JSON Schema (draft 2020-12): ${why}`, { field: 'inputSchema', reason: 'INVALID_INPUT_SCHEMA' });
}
