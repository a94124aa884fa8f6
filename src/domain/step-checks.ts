/**
 * Registration checks of what steps hold beyond the DAG: `when` conditions (CEL, type-checked,
 * reading only dependencies) and the literal inputs of built-in steps (a `sleep` without a valid
 * `ms`, an `http` step with an unparseable URL fail at `registerWorkflow`, not at run time).
 * Pure; called by `checkFeatures` (definition-features.ts) for `validateDefinition` (dag.ts), whose
 * error reasons they share.
 */
import { CelCompileError, compileExpression } from './cel';
import { ValidationError } from './errors';
import type { Json, StepDefinition } from './glossary';

/** Methods the http executor sends (src/executors/http.ts reads the same list). */
export const HTTP_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * An http step's `url` that is a path (`/healthz`, `/graphql?x=1`) calls the conductor that runs
 * the task, on the address and port it listens on: a workflow can call the conductor's own API
 * whatever PORT it was started with. `//host/…` is a scheme-relative URL, not a path, and refused.
 */
export function isConductorPath(url: string): boolean {
  return /^\/(?![/\\])/.test(url);
}

/** `ValidationError.data.reason` of the checks here. */
export type StepCheckReason = 'INVALID_CONDITION' | 'CONDITION_REFERENCES_NON_DEPENDENCY' | 'INVALID_STEP_INPUT';

/**
 * Every `when`: a string of valid CEL yielding bool, over `input` and `steps.<key>.output` of the
 * step's (transitive) dependencies. `data`: `{ reason, step, field: 'steps[i].when', offset }`.
 *
 * @param isDependency whether step j is a (transitive) dependency of step i
 */
export function checkConditions(wf: string, steps: readonly StepDefinition[], isDependency: (i: number, j: number) => boolean): void {
  const indexByKey = new Map(steps.map((s, i) => [s.key, i]));
  steps.forEach((step, i) => {
    if (step.when === undefined) return;
    const field = `steps[${i}].when`;
    if (typeof step.when !== 'string') {
      fail('INVALID_CONDITION', `${wf}: ${field} (step "${step.key}") must be a string holding a CEL expression`, { step: step.key, field, offset: 0 });
    }
    let refs: readonly string[];
    try {
      refs = compileExpression(step.when, { expect: 'bool', where: `${field} (step "${step.key}")` }).stepRefs;
    } catch (e: unknown) {
      if (!(e instanceof CelCompileError)) throw e;
      fail('INVALID_CONDITION', `${wf}: ${e.message}`, { step: step.key, field, offset: e.data.offset, celReason: e.data.reason });
    }
    for (const key of refs) {
      const j = indexByKey.get(key);
      if (j !== undefined && isDependency(i, j)) continue;
      const why =
        j === undefined
          ? `there is no step "${key}" in this workflow`
          : key === step.key
            ? 'a condition cannot read its own step'
            : `"${key}" is not a dependency of "${step.key}", direct or transitive; add it to dependsOn`;
      const offset = Math.max(0, step.when.indexOf(key));
      fail('CONDITION_REFERENCES_NON_DEPENDENCY', `${wf}: ${field} (step "${step.key}") reads steps.${key} at offset ${offset}, but ${why}`, {
        step: step.key,
        field,
        offset,
        dependency: key,
      });
    }
  });
}

/**
 * Literal inputs of built-in steps, checked as their executors will check them (a value holding a
 * `{{ … }}` template is checked when the step runs). `data`: `{ reason, step, field: 'steps[i].input.<name>' }`.
 */
export function checkBuiltInInputs(wf: string, steps: readonly StepDefinition[]): void {
  steps.forEach((step, i) => {
    if (step.queue !== null) return;
    const input = step.input;
    if (isTemplated(input)) return;
    // Annotated, so TypeScript narrows after a call (a never-returning arrow needs its type spelled out).
    const bad: (name: string | null, rule: string, value: Json | undefined) => never = (name, rule, value) =>
      fail('INVALID_STEP_INPUT', `${wf}: steps[${i}].input${name ? `.${name}` : ''} (a ${step.type} step, "${step.key}") ${rule}; got ${show(value)}`, {
        step: step.key,
        field: `steps[${i}].input${name ? `.${name}` : ''}`,
      });
    if (step.type === 'sleep') {
      if (!isObject(input)) bad(null, 'must be an object { "ms": <integer> }', input);
      const ms = input['ms'];
      if (isTemplated(ms)) return;
      if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > 7 * 24 * 60 * 60 * 1000) {
        bad('ms', 'must be an integer from 0 to 604800000 (7 days)', ms);
      }
    }
    if (step.type === 'http') {
      if (!isObject(input)) bad(null, 'must be an object { "url": "https://…", "method": "GET" }', input);
      const { url, method, timeoutMs, headers } = input;
      if (!isTemplated(url)) {
        let parsed: URL | null;
        try {
          parsed = typeof url === 'string' ? (isConductorPath(url) ? new URL(url, 'http://conductor.invalid') : new URL(url)) : null;
        } catch {
          parsed = null;
        }
        if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
          bad('url', 'must be an absolute http:// or https:// URL, or a path on this conductor such as "/healthz"', url);
        }
        if (parsed.username !== '' || parsed.password !== '') bad('url', 'must not hold credentials: send them in an "authorization" header', url);
      }
      if (method !== undefined && method !== null && !isTemplated(method)) {
        if (typeof method !== 'string' || !HTTP_METHODS.includes(method.toUpperCase())) bad('method', `must be one of ${HTTP_METHODS.join(', ')}`, method);
      }
      if (timeoutMs !== undefined && timeoutMs !== null && !isTemplated(timeoutMs)) {
        if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1) {
          bad('timeoutMs', 'must be an integer of at least 1 (ms)', timeoutMs);
        }
      }
      if (headers !== undefined && headers !== null && !isTemplated(headers)) {
        if (!isObject(headers)) bad('headers', 'must be an object of strings', headers);
        for (const [name, value] of Object.entries(headers)) {
          if (typeof value !== 'string') bad(`headers.${name}`, 'must be a string', value as Json);
        }
      }
    }
  });
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string with a template in it: its value is known when the step runs. */
function isTemplated(value: Json | undefined): boolean {
  return typeof value === 'string' && value.includes('{{');
}

function show(value: Json | undefined): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function fail(reason: StepCheckReason, message: string, data: Record<string, unknown>): never {
  throw new ValidationError(message, { reason, ...data });
}
