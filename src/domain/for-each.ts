/**
 * Fan-out lists: a step's `forEach` yields a JSON array, and the step runs once per item. Two
 * forms: a single `{{ … }}` template (`"{{ steps.list.output.ids }}"`), or a CEL expression over
 * `input` and `steps.<dependency>.output` (`"input.users.filter(u, u.active).map(u, u.id)"`).
 * Pure: registration checks the expression, the state machine evaluates it inside the
 * transition that readies the step.
 */
import { compileExpression, type CompiledExpression } from './cel';
import { LimitExceededError, TemplateError } from './errors';
import type { Json, StepDefinition } from './glossary';
import { listTemplates, resolveTemplates, type TemplateRef, type TemplateScope } from './templates';

/** MAX_FOREACH_ITEMS: items one forEach step may fan out to (one task row each). */
export const DEFAULT_MAX_FOREACH_ITEMS = 10_000;
/** Bound of `maxConcurrency`: no step has more items than this. */
export const MAX_FOREACH_ITEMS_BOUND = 1_000_000;

/** A forEach expression that is not one `{{ … }}` template, or reads what it may not. */
export class ForEachSyntaxError extends TemplateError {}

/** A forEach expression parsed: its template, or its compiled CEL expression. */
export type ForEachForm = { kind: 'template'; ref: TemplateRef } | { kind: 'cel'; compiled: CompiledExpression };

/**
 * Parses a forEach expression: a string holding `{{` is the template form, any other a CEL
 * expression (type-checked; its result must be a list).
 *
 * @throws TemplateError (ForEachSyntaxError) when a template form is not exactly one template
 *   over `input` or `steps`; CelCompileError (a ValidationError) for a CEL expression that does
 *   not compile, with its `offset`.
 */
export function parseForEach(expression: string, where = 'forEach'): ForEachForm {
  if (typeof expression !== 'string' || expression.trim() === '') {
    throw new ForEachSyntaxError('forEach must be a non-empty string: a CEL expression or a single {{ … }} template yielding a JSON array', {});
  }
  if (!expression.includes('{{')) return { kind: 'cel', compiled: compileExpression(expression, { expect: 'list', where }) };
  return { kind: 'template', ref: forEachRef(expression) };
}

/** The step keys a forEach expression reads, as template references (the dependency check's input). */
export function forEachReads(expression: string, where?: string): TemplateRef[] {
  const form = parseForEach(expression, where);
  if (form.kind === 'template') return [form.ref];
  return form.compiled.stepRefs.map((key) => ({ template: expression, path: `steps.${key}`, segments: ['steps', key], stepKey: key }));
}

/**
 * The one template of a forEach expression in the template form.
 *
 * @throws TemplateError (ForEachSyntaxError) when the expression is not exactly one `{{ … }}`
 *   template over `input` or `steps`.
 */
export function forEachRef(expression: string): TemplateRef {
  const text = expression.trim();
  const refs = listTemplates(text);
  if (refs.length !== 1 || refs[0].template !== text) {
    throw new ForEachSyntaxError(
      `forEach ${JSON.stringify(expression)} must be exactly one template yielding a JSON array, e.g. "{{ input.items }}", or a CEL expression (no {{ }})`,
      { template: expression },
    );
  }
  const ref = refs[0];
  if (ref.segments[0] !== 'input' && ref.segments[0] !== 'steps') {
    throw new ForEachSyntaxError(`forEach ${JSON.stringify(expression)} reads ${ref.segments[0]}: a list comes from input or steps.<key>.output`, {
      template: ref.template,
      path: ref.path,
    });
  }
  return ref;
}

/**
 * The list a forEach step fans out over, in the scope of its finished dependencies.
 *
 * @throws TemplateError when the template cannot be resolved or does not yield an array.
 * @throws LimitExceededError (`MAX_FOREACH_ITEMS`) when the list has more items than allowed.
 */
export function evaluateForEach(step: Pick<StepDefinition, 'key' | 'forEach'>, scope: TemplateScope, maxItems: number): Json[] {
  const expression = step.forEach!;
  const form = parseForEach(expression, `step "${step.key}" forEach`);
  const list =
    form.kind === 'template'
      ? resolveTemplates(form.ref.template, { input: scope.input, steps: scope.steps })
      : form.compiled.evaluate({ input: scope.input, steps: scope.steps as unknown as Json });
  if (!Array.isArray(list)) {
    const got = list === null ? 'null' : typeof list === 'object' ? 'an object' : `a ${typeof list}`;
    throw new TemplateError(`forEach ${JSON.stringify(expression)} must yield a JSON array, got ${got}`, { template: expression });
  }
  if (list.length > maxItems) {
    throw new LimitExceededError(
      `forEach ${JSON.stringify(expression)} yields ${list.length} items; a step fans out to at most ${maxItems} (MAX_FOREACH_ITEMS): split the list`,
      { limit: 'MAX_FOREACH_ITEMS', max: maxItems, actual: list.length },
    );
  }
  return list;
}

/** Whether a template in a step's input reads the item scope (`item`, `index`). */
export function readsItem(ref: TemplateRef): boolean {
  return ref.segments[0] === 'item' || ref.segments[0] === 'index';
}
