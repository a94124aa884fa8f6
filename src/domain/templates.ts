/**
 * Step input templates: `{{ path }}` placeholders inside the strings of a step's `input`, filled in
 * from the run input and the outputs of finished steps just before a task is queued.
 *
 * Grammar (a tiny parser, no eval, no function calls):
 *
 * ```
 * template := "{{" ws path ws "}}"
 * path     := root ( "." segment | "[" index "]" )*
 * root     := "input" | "steps"            steps paths are steps.<key>.output…
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
import { TemplateError } from './errors';

export const TEMPLATE_ROOTS = ['input', 'steps'] as const;
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];

/** What templates may read. `steps` holds the finished (transitive) dependencies of the step. */
export interface TemplateScope {
  input: Json;
  steps: Record<string, { output: Json }>;
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

/**
 * Replaces every template in `value` (walking arrays and objects) with what it points to in
 * `scope`. Returns a new value; the resolved parts share structure with `scope`, so treat the
 * result as immutable.
 *
 * @throws TemplateError when a template is malformed, has an unknown root, names a step that is
 *   not in `scope.steps`, or points at something that does not exist. `data` is
 *   `{ template, path }`.
 */
export function resolveTemplates(value: Json, scope: TemplateScope): Json {
  if (typeof value === 'string') return resolveString(value, scope);
  if (Array.isArray(value)) return value.map((item) => resolveTemplates(item, scope));
  if (value !== null && typeof value === 'object') {
    // fromEntries defines own properties, so a "__proto__" key stays data instead of a prototype.
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveTemplates(v, scope)]));
  }
  return value;
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

function resolveString(text: string, scope: TemplateScope): Json {
  const parts = parseString(text);
  if (parts.length === 1 && parts[0].kind === 'template') return lookup(parts[0].ref, scope);
  if (!parts.some((p) => p.kind === 'template')) return text;
  return parts.map((p) => (p.kind === 'text' ? p.text : interpolate(lookup(p.ref, scope)))).join('');
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
    throw new TemplateError(`Template ${JSON.stringify(template)} has unknown root "${root}": paths start with "input" or "steps"`, { template, path });
  }
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
