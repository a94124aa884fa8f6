/**
 * Step input templates: `{{ path }}` placeholders inside the strings of a step's `input`, filled in
 * from the run input and the outputs of finished steps just before a task is queued.
 *
 * Grammar (a tiny parser, no eval, no function calls):
 *
 * ```
 * template := "{{" ws path ws "}}"
 * path     := root ( "." segment | "[" index "]" )*
 * root     := "input" | "steps" | "item" | "index"   steps paths are steps.<key>.output…;
 *                                          item and index only in a forEach step's input
 * segment  := name | index
 * name     := [A-Za-z_$][A-Za-z0-9_$-]*    "-" because step keys may contain it
 * index    := [0-9]+
 * ```
 *
 * - A string that is exactly one template (`"{{ input.customer }}"`) becomes the raw value, which
 *   may be an object, a number, etc.
 * - A template inside other text is interpolated: strings as they are, `null` as "" (as Mustache,
 *   Handlebars and GitHub Actions do), numbers and booleans via `String`, objects and arrays as
 *   JSON.
 * - Only string *values* are templated; object keys are copied as they are.
 * - There is no escape for a literal `{{`: every `{{` opens a template.
 * - Lookups use own properties only, so `{{ input.constructor }}` does not reach
 *   `Object.prototype`.
 */
import type { Json } from './glossary';
import { LimitExceededError, TemplateError } from './errors';
import { jsonBytesUpTo, utf8Bytes } from './json-limits';

export const TEMPLATE_ROOTS = ['input', 'steps', 'item', 'index'] as const;
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];

/** What templates may read. `steps` holds the finished (transitive) dependencies of the step. */
export interface TemplateScope {
  input: Json;
  steps: Record<string, { output: Json }>;
  /** An item task of a forEach step: its item and its index in the list. */
  fanItem?: { item: Json; index: number };
}

/** One parsed `{{ … }}` occurrence. */
export interface TemplateRef {
  /** As written, braces included: `{{ steps.fetch.output.items[0] }}`. */
  template: string;
  /** Canonical dotted form: `steps.fetch.output.items.0`. */
  path: string;
  /** `path` split; array indices are decimal strings. */
  segments: readonly string[];
  /** The step key for a `steps.…` path, null for an `input.…` path. */
  stepKey: string | null;
}

type Part = { kind: 'text'; text: string } | { kind: 'template'; ref: TemplateRef };

const NAME = /[A-Za-z_$][A-Za-z0-9_$-]*/y;
const INDEX = /[0-9]+/y;
/** Array indices in canonical decimal form only: "01" is not index 1. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/** How far templates may expand a task's input: per string and for the whole input. */
export interface ExpansionLimits {
  /** MAX_TEMPLATE_STRING_BYTES */
  maxTemplateStringBytes: number;
  /** MAX_TEMPLATE_TASK_BYTES */
  maxTemplateTaskBytes: number;
}

/** The defaults of MAX_TEMPLATE_STRING_BYTES and MAX_TEMPLATE_TASK_BYTES (src/config; a test keeps them equal). */
export const DEFAULT_EXPANSION_LIMITS: ExpansionLimits = Object.freeze({ maxTemplateStringBytes: 1024 * 1024, maxTemplateTaskBytes: 4 * 1024 * 1024 });

/**
 * Replaces every template in `value` (walking arrays and objects) with what it points to in
 * `scope`. Returns a new value; the resolved parts share structure with `scope`, so treat the
 * result as immutable.
 *
 * Expansion is counted as it goes, before any string is built: an interpolated string whose
 * pieces add up to more than `maxTemplateStringBytes`, or an input whose JSON would exceed
 * `maxTemplateTaskBytes` (values a whole-string template shares with the scope count each time
 * they appear, as they will when the input is stored), is refused having allocated nothing big.
 *
 * @throws TemplateError when a template is malformed, has an unknown root, names a step that is
 *   not in `scope.steps`, or points at something that does not exist. `data` is
 *   `{ template, path }`.
 * @throws LimitExceededError (`MAX_TEMPLATE_STRING_BYTES`, `MAX_TEMPLATE_TASK_BYTES`) when the
 *   expansion would be larger than allowed.
 */
export function resolveTemplates(value: Json, scope: TemplateScope, limits: ExpansionLimits = DEFAULT_EXPANSION_LIMITS): Json {
  return expand(value, { scope, limits, used: 0, build: true }) as Json;
}

/**
 * A lower bound of what `value` expands to when only the run input is known: templates that read
 * step outputs count as empty. Lets startRun refuse a run whose later steps will certainly expand
 * past the limits, instead of failing the run once they are reached. Builds nothing.
 *
 * @throws as {@link resolveTemplates} (a `steps.…` template is never a TemplateError here).
 */
export function checkExpansion(value: Json, input: Json, limits: ExpansionLimits = DEFAULT_EXPANSION_LIMITS): number {
  const state: Expansion = { scope: { input, steps: {} }, limits, used: 0, build: false };
  expand(value, state);
  return state.used;
}

interface Expansion {
  scope: TemplateScope;
  limits: ExpansionLimits;
  /** Bytes of the task input counted so far. */
  used: number;
  /** false: count only, with `steps.…` templates as empty (see checkExpansion). */
  build: boolean;
}

function expand(value: Json, x: Expansion): Json | undefined {
  if (typeof value === 'string') return expandString(value, x);
  if (Array.isArray(value)) {
    spend(x, 2 + Math.max(0, value.length - 1));
    const out = value.map((item) => expand(item, x));
    return x.build ? (out as Json[]) : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    spend(x, 2 + Math.max(0, entries.length - 1));
    const out = entries.map(([k, v]): [string, Json | undefined] => {
      spend(x, utf8Bytes(k) + 3);
      return [k, expand(v, x)];
    });
    // fromEntries defines own properties, so a "__proto__" key stays data instead of a prototype.
    return x.build ? (Object.fromEntries(out) as Json) : undefined;
  }
  spend(x, value === null ? 4 : String(value).length);
  return value;
}

function expandString(text: string, x: Expansion): Json | undefined {
  const parts = parseString(text);
  if (!parts.some((p) => p.kind === 'template')) {
    spend(x, utf8Bytes(text) + 2);
    return text;
  }
  const known = (ref: TemplateRef): boolean => x.build || ref.segments[0] === 'input';
  if (parts.length === 1 && parts[0].kind === 'template') {
    const ref = parts[0].ref;
    if (!known(ref)) return undefined;
    const raw = lookup(ref, x.scope);
    // Shared with the scope in memory, but stored (and sent to workers) in full each time.
    spend(x, jsonBytesUpTo(raw, remaining(x)));
    return raw;
  }
  // Interpolation: measure every piece before building one.
  const maxString = x.limits.maxTemplateStringBytes;
  let size = 2;
  const values: (Json | undefined)[] = [];
  for (const p of parts) {
    let bytes: number;
    if (p.kind === 'text') {
      bytes = utf8Bytes(p.text);
      values.push(undefined);
    } else if (!known(p.ref)) {
      bytes = 0;
      values.push(undefined);
    } else {
      const v = lookup(p.ref, x.scope);
      values.push(v);
      bytes = pieceBytes(v, maxString - size);
    }
    size += bytes;
    if (size > maxString) {
      throw new LimitExceededError(
        `A templated string would expand to more than ${maxString} bytes (MAX_TEMPLATE_STRING_BYTES); ` +
          `reference smaller values, or pass the value whole with a string that is exactly one template`,
        { limit: 'MAX_TEMPLATE_STRING_BYTES', max: maxString, actual: size, template: firstTemplate(parts) },
      );
    }
  }
  spend(x, size);
  if (!x.build) return undefined;
  return parts.map((p, i) => (p.kind === 'text' ? p.text : interpolate(values[i] as Json))).join('');
}

/** Bytes a value adds to an interpolated string (JSON for objects), counted up to `budget`. */
function pieceBytes(value: Json, budget: number): number {
  if (value === null) return 0;
  if (typeof value === 'string') return utf8Bytes(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value).length;
  return jsonBytesUpTo(value, Math.max(0, budget));
}

function remaining(x: Expansion): number {
  return Math.max(0, x.limits.maxTemplateTaskBytes - x.used);
}

function spend(x: Expansion, bytes: number): void {
  x.used += bytes;
  if (x.used > x.limits.maxTemplateTaskBytes) {
    const max = x.limits.maxTemplateTaskBytes;
    throw new LimitExceededError(`The step input would expand to more than ${max} bytes (MAX_TEMPLATE_TASK_BYTES); reference smaller values or fewer of them`, {
      limit: 'MAX_TEMPLATE_TASK_BYTES',
      max,
      actual: x.used,
    });
  }
}

function firstTemplate(parts: Part[]): string | null {
  for (const p of parts) if (p.kind === 'template') return p.ref.template;
  return null;
}

/**
 * Every template in `value`, in walk order (arrays by index, objects by key order).
 *
 * @throws TemplateError on the first malformed template or unknown root.
 */
export function listTemplates(value: Json): TemplateRef[] {
  const refs: TemplateRef[] = [];
  const walk = (v: Json): void => {
    if (typeof v === 'string') {
      for (const part of parseString(v)) if (part.kind === 'template') refs.push(part.ref);
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v !== null && typeof v === 'object') {
      Object.values(v).forEach(walk);
    }
  };
  walk(value);
  return refs;
}

/**
 * The step keys that templates in `value` read (`steps.<key>.output…`), de-duplicated and sorted
 * by code unit. Registration checks each is a (transitive) dependency of the step.
 *
 * @throws TemplateError on the first malformed template or unknown root.
 */
export function templateDependencies(value: Json): string[] {
  const keys = new Set<string>();
  for (const ref of listTemplates(value)) if (ref.stepKey !== null) keys.add(ref.stepKey);
  return [...keys].sort();
}

function interpolate(value: Json): string {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Splits a string into literal text and templates; empty text parts are dropped. */
function parseString(text: string): Part[] {
  const parts: Part[] = [];
  let from = 0;
  for (;;) {
    const open = text.indexOf('{{', from);
    if (open === -1) break;
    const close = text.indexOf('}}', open + 2);
    if (close === -1) {
      throw malformed(text.slice(open), text.slice(open + 2).trim(), 'it has no closing "}}"');
    }
    if (open > from) parts.push({ kind: 'text', text: text.slice(from, open) });
    const template = text.slice(open, close + 2);
    parts.push({ kind: 'template', ref: parsePath(template, text.slice(open + 2, close).trim()) });
    from = close + 2;
  }
  if (from < text.length) parts.push({ kind: 'text', text: text.slice(from) });
  return parts;
}

function parsePath(template: string, source: string): TemplateRef {
  if (source === '') throw malformed(template, source, 'the path is empty; write e.g. {{ input.id }}');
  const segments: string[] = [];
  let pos = 0;
  const take = (re: RegExp): string | null => {
    re.lastIndex = pos;
    const m = re.exec(source);
    if (m === null) return null;
    pos = re.lastIndex;
    return m[0];
  };

  const root = take(NAME);
  if (root === null) throw malformed(template, source, `the path must start with "input" or "steps"`);
  segments.push(root);
  while (pos < source.length) {
    const before = source.slice(0, pos);
    const ch = source[pos++];
    if (ch === '.') {
      const seg = take(NAME) ?? take(INDEX);
      if (seg === null) throw malformed(template, source, `expected a name or an index after "${before}."`);
      segments.push(seg);
    } else if (ch === '[') {
      const seg = take(INDEX);
      if (seg === null || source[pos] !== ']') {
        throw malformed(template, source, `expected a number and "]" after "${before}["`);
      }
      pos++;
      segments.push(seg);
    } else {
      throw malformed(template, source, `unexpected "${ch}" after "${before}"`);
    }
  }

  const path = segments.join('.');
  if (!isRoot(root)) {
    throw new TemplateError(`Template ${JSON.stringify(template)} has unknown root "${root}": paths start with "input", "steps", "item" or "index"`, {
      template,
      path,
    });
  }
  if (root === 'index' && segments.length > 1) throw malformed(template, source, '{{ index }} is a number: it has no fields');
  if (root === 'steps' && (segments.length < 3 || segments[2] !== 'output')) {
    // The only thing a step exposes is its output; catching `steps.fetch.body` at registration
    // beats a failed task later.
    const key = segments[1] ?? '<key>';
    throw malformed(template, source, `a step is read as steps.${key}.output`);
  }
  return { template, path, segments, stepKey: root === 'steps' ? segments[1] : null };
}

function lookup(ref: TemplateRef, scope: TemplateScope): Json {
  const { segments } = ref;
  let current: Json;
  let start: number;
  if (segments[0] === 'input') {
    current = scope.input;
    start = 1;
  } else if (segments[0] === 'item' || segments[0] === 'index') {
    if (!scope.fanItem) {
      throw new TemplateError(`Template ${JSON.stringify(ref.template)} cannot be resolved: only the input of a step with forEach reads item and index`, {
        template: ref.template,
        path: ref.path,
      });
    }
    current = segments[0] === 'item' ? scope.fanItem.item : scope.fanItem.index;
    start = 1;
  } else {
    const key = segments[1];
    if (!Object.hasOwn(scope.steps, key)) {
      throw new TemplateError(
        `Template ${JSON.stringify(ref.template)} cannot be resolved: step "${key}" is not a finished ` + `dependency of this step; add it to dependsOn`,
        { template: ref.template, path: ref.path },
      );
    }
    current = scope.steps[key].output;
    start = 3;
  }

  for (let i = start; i < segments.length; i++) {
    const seg = segments[i];
    const next = child(current, seg);
    if (next === undefined) {
      const on = segments.slice(0, i).join('.');
      throw new TemplateError(`Template ${JSON.stringify(ref.template)} cannot be resolved: "${seg}" does not exist on ${on}${describe(current)}`, {
        template: ref.template,
        path: ref.path,
      });
    }
    current = next;
  }
  return current;
}

function child(value: Json, seg: string): Json | undefined {
  if (Array.isArray(value)) {
    return ARRAY_INDEX.test(seg) && Number(seg) < value.length ? value[Number(seg)] : undefined;
  }
  if (value !== null && typeof value === 'object' && Object.hasOwn(value, seg)) return value[seg];
  return undefined;
}

/** A hint for values that have no properties at all; plain objects need none. */
function describe(value: Json): string {
  if (Array.isArray(value)) return ` (an array of length ${value.length})`;
  if (value === null) return ' (null)';
  if (typeof value === 'object') return '';
  return ` (a ${typeof value})`;
}

function isRoot(name: string): name is TemplateRoot {
  return (TEMPLATE_ROOTS as readonly string[]).includes(name);
}

function malformed(template: string, path: string, why: string): TemplateError {
  return new TemplateError(`Template ${JSON.stringify(template)} is malformed: ${why}`, { template, path });
}
