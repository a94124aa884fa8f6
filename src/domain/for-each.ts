/**
 * Fan-out lists: a step's `forEach` names a JSON array, and the step runs once per item. The
 * expression is a single `{{ … }}` template over `input` and `steps.<dependency>.output` (a CEL
 * form joins when the CEL adapter lands; both yield the same JSON array). Pure: registration
 * checks the expression, the state machine evaluates it inside the transition that readies the
 * step.
 */
import { LimitExceededError, TemplateError } from './errors';
import type { Json, StepDefinition } from './glossary';
import { listTemplates, resolveTemplates, type TemplateRef, type TemplateScope } from './templates';

/** MAX_FOREACH_ITEMS: items one forEach step may fan out to (one task row each). */
export const DEFAULT_MAX_FOREACH_ITEMS = 10_000;
/** Bound of `maxConcurrency`: no step has more items than this. */
export const MAX_FOREACH_ITEMS_BOUND = 1_000_000;

/** A forEach expression that is not one `{{ … }}` template, or reads what it may not. */
export class ForEachSyntaxError extends TemplateError {}

/**
 * The one template of a forEach expression.
 *
 * @throws TemplateError (ForEachSyntaxError) when the expression is not exactly one `{{ … }}`
 *   template over `input` or `steps`.
 */
export function forEachRef(expression: string): TemplateRef {
  if (typeof expression !== 'string') throw new ForEachSyntaxError('forEach must be a string: a single {{ … }} template yielding a JSON array', {});
  const text = expression.trim();
  const refs = listTemplates(text);
  if (refs.length !== 1 || refs[0].template !== text) {
    throw new ForEachSyntaxError(`forEach ${JSON.stringify(expression)} must be exactly one template yielding a JSON array, e.g. "{{ input.items }}"`, {
      template: expression,
    });
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
  const ref = forEachRef(expression);
  const list = resolveTemplates(ref.template, { input: scope.input, steps: scope.steps });
  if (!Array.isArray(list)) {
    const got = list === null ? 'null' : typeof list === 'object' ? 'an object' : `a ${typeof list}`;
    throw new TemplateError(`forEach ${JSON.stringify(expression)} must yield a JSON array, got ${got}`, { template: ref.template, path: ref.path });
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
