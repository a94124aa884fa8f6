/**
 * Step rate limits: `StepInput.rateLimit { key, limit, periodMs }` lets at most `limit` tasks
 * with one key start per `periodMs`, across every step, run, queue and replica of the tenant
 * that uses the key. A task over the limit is not failed: it waits QUEUED until it is eligible
 * (`waitingFor` RATE_LIMIT).
 *
 * The decision is GCRA (the generic cell rate algorithm; a token bucket kept as one timestamp):
 * per (tenant, key) one row holds the theoretical arrival time (TAT). With emission interval
 * T = periodMs / limit and a burst of `limit`, the k-th task claimed at `now` passes when
 * max(TAT, now) + k·T − now ≤ limit·T; claiming n moves TAT to max(TAT, now) + n·T. So after an
 * idle period `limit` may start at once, then one every T: over any span of t ms at most
 * limit + t/T start (10 per second: at most 10 + 10·s in s seconds, 110 in 10 s). The row is
 * locked in the claim transaction, so replicas share the limit exactly. Pure.
 */
import { CelCompileError, CelEvaluationError, compileExpression, type CompiledExpression } from './cel';
import { TemplateError, ValidationError } from './errors';
import type { Json, StepDefinition } from './glossary';

/** A step's rate limit as the definition holds it. */
export interface RateLimit {
  /** A CEL expression yielding the key (a string or a number), or a plain name taken literally. */
  key: string;
  /** Tasks per period, at least 1. */
  limit: number;
  periodMs: number;
}

/** The period bounds: 1 ms to 1 day. */
export const MIN_RATE_PERIOD_MS = 1;
export const MAX_RATE_PERIOD_MS = 86_400_000;
/** At most this many per period (a bound, so T = periodMs / limit stays meaningful). */
export const MAX_RATE_LIMIT = 1_000_000;
/** A key's characters at most, evaluated or literal (the column's width). */
export const MAX_RATE_LIMIT_KEY_LENGTH = 256;

/** Variables a key expression may read: the run input, dependencies' outputs, and a forEach item and its index. */
export const RATE_LIMIT_KEY_VARIABLES = ['input', 'steps', 'item', 'index'] as const;

/** A plain name, taken literally when it does not start with one of the key's variables. */
const LITERAL_KEY = /^[A-Za-z_][A-Za-z0-9_.:/-]*$/;

export type RateLimitReason = 'INVALID_RATE_LIMIT' | 'RATE_LIMIT_KEY_REFERENCES_NON_DEPENDENCY';

/** The scope a key is evaluated in. */
export interface RateLimitScope {
  input: Json;
  steps: Record<string, { output: Json }>;
  item?: Json;
  index?: number | null;
}

/** How the key of a definition is read: a literal or a compiled CEL expression. */
export type KeyForm = { kind: 'literal'; key: string } | { kind: 'cel'; compiled: CompiledExpression };

/**
 * A key that parses as a name not starting with `input`, `steps`, `item` or `index` (e.g.
 * `openai`, `api.example.com`) is a literal; anything else is CEL, type-checked.
 * @throws CelCompileError
 */
export function keyForm(key: string, where = 'rateLimit.key'): KeyForm {
  const root = key.split(/[.[]/, 1)[0];
  if (LITERAL_KEY.test(key) && !(RATE_LIMIT_KEY_VARIABLES as readonly string[]).includes(root)) return { kind: 'literal', key };
  return { kind: 'cel', compiled: compileExpression(key, { variables: RATE_LIMIT_KEY_VARIABLES, where }) };
}

/**
 * Registration checks of every step's `rateLimit`: not on a `workflow` step (never claimed),
 * limit 1 to 1,000,000, periodMs 1 to 86,400,000, a key that is a literal or CEL reading only
 * `input`, `item` (forEach), `index` (forEach) and the step's (transitive) dependencies.
 * @throws ValidationError `{ reason, step, field }`
 */
export function checkRateLimits(wf: string, steps: readonly StepDefinition[], isDependency: (i: number, j: number) => boolean): void {
  const indexByKey = new Map(steps.map((s, i) => [s.key, i]));
  steps.forEach((step, i) => {
    const rl = step.rateLimit;
    if (rl === undefined) return;
    const at = `steps[${i}].rateLimit`;
    const bad = (field: string, message: string, extra: Record<string, unknown> = {}): never => {
      throw new ValidationError(`${wf}: ${at}.${field} (step "${step.key}") ${message}`, {
        reason: 'INVALID_RATE_LIMIT' satisfies RateLimitReason,
        step: step.key,
        field: `${at}.${field}`,
        ...extra,
      });
    };
    if (step.type === 'workflow') {
      bad('key', "is on a `workflow` step, which starts its child run in the transition that readies it and is never claimed; limit the child's steps instead");
    }
    if (!Number.isInteger(rl.limit) || rl.limit < 1 || rl.limit > MAX_RATE_LIMIT) {
      bad('limit', `is ${JSON.stringify(rl.limit)}; use an integer from 1 to ${MAX_RATE_LIMIT} (tasks per period)`, { value: rl.limit as never });
    }
    if (!Number.isInteger(rl.periodMs) || rl.periodMs < MIN_RATE_PERIOD_MS || rl.periodMs > MAX_RATE_PERIOD_MS) {
      bad('periodMs', `is ${JSON.stringify(rl.periodMs)}; use an integer from ${MIN_RATE_PERIOD_MS} to ${MAX_RATE_PERIOD_MS} milliseconds (1 day)`, {
        value: rl.periodMs as never,
      });
    }
    if (typeof rl.key !== 'string' || rl.key.trim().length === 0 || rl.key.length > 4096) {
      bad('key', 'must be a CEL expression yielding a string, or a plain name such as "openai" (1 to 4096 characters)');
    }
    let form: KeyForm;
    try {
      form = keyForm(rl.key, `${at}.key (step "${step.key}")`);
    } catch (e: unknown) {
      if (!(e instanceof CelCompileError)) throw e;
      return bad('key', `is not a plain name and not valid CEL: ${e.message}`, { offset: e.data.offset, celReason: e.data.reason });
    }
    if (form.kind === 'literal') {
      if (rl.key.length > MAX_RATE_LIMIT_KEY_LENGTH) bad('key', `is ${rl.key.length} characters long; a literal key has at most ${MAX_RATE_LIMIT_KEY_LENGTH}`);
      return;
    }
    if (step.forEach === undefined && (form.compiled.variables.includes('item') || form.compiled.variables.includes('index'))) {
      bad('key', 'reads item or index, which only a forEach step has');
    }
    for (const dep of form.compiled.stepRefs) {
      const j = indexByKey.get(dep);
      if (j !== undefined && isDependency(i, j)) continue;
      throw new ValidationError(`${wf}: ${at}.key (step "${step.key}") reads steps.${dep}, which is not a dependency of "${step.key}"; add it to dependsOn`, {
        reason: 'RATE_LIMIT_KEY_REFERENCES_NON_DEPENDENCY' satisfies RateLimitReason,
        step: step.key,
        field: `${at}.key`,
        dependency: dep,
      });
    }
  });
}

/** A key that could not be evaluated for a task: the task fails at once, as an unresolvable template does. */
export class RateLimitKeyError extends TemplateError {}

/**
 * The rate-limit key of a step's task in `scope`, or null when the step has no rate limit. A
 * CEL result must be a non-empty string (a number or bool is written as text) of at most 256
 * characters.
 * @throws RateLimitKeyError
 */
export function rateLimitKeyOf(step: Pick<StepDefinition, 'key' | 'rateLimit'>, scope: RateLimitScope): string | null {
  const rl = step.rateLimit;
  if (rl === undefined) return null;
  const where = `the rate-limit key of step "${step.key}"`;
  let form: KeyForm;
  try {
    form = keyForm(rl.key, where);
  } catch (e: unknown) {
    throw new RateLimitKeyError(`${where}: ${e instanceof Error ? e.message : String(e)}`, { step: step.key, template: rl.key });
  }
  if (form.kind === 'literal') return form.key;
  const steps: Record<string, Json> = {};
  for (const [key, value] of Object.entries(scope.steps)) steps[key] = value as unknown as Json;
  let value: Json;
  try {
    value = form.compiled.evaluate({ input: scope.input, steps, item: scope.item ?? null, index: scope.index ?? null });
  } catch (e: unknown) {
    if (e instanceof CelEvaluationError) throw new RateLimitKeyError(e.message, { step: step.key, template: rl.key });
    throw e;
  }
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : null;
  if (text === null || text.length === 0 || text.length > MAX_RATE_LIMIT_KEY_LENGTH) {
    throw new RateLimitKeyError(
      `${where} (${rl.key}) yields ${JSON.stringify(value)?.slice(0, 80)}; it must yield a string of 1 to ${MAX_RATE_LIMIT_KEY_LENGTH} characters`,
      { step: step.key, template: rl.key },
    );
  }
  return text;
}

/** A key's GCRA state and parameters, as the claim reads them. */
export interface RateLimitBucket {
  /** Theoretical arrival time, epoch ms; null for a key never used (same as now). */
  tatMs: number | null;
  /** Emission interval T = periodMs / limit, ms. */
  intervalMs: number;
  /** Tasks that may start at once after idling: the limit. */
  burst: number;
}

/** Slack for float rounding of T (a period of 1000 ms at 3 per period is 333.33… ms). */
const EPSILON_MS = 1e-6;

/** How many tasks of a key may start at `nowMs`. */
export function allowance(b: RateLimitBucket, nowMs: number): number {
  const base = Math.max(b.tatMs ?? nowMs, nowMs);
  return Math.max(0, Math.floor(b.burst - (base - nowMs) / b.intervalMs + EPSILON_MS));
}

/** The TAT after `n` tasks started at `nowMs`. */
export function advance(b: RateLimitBucket, nowMs: number, n: number): number {
  return Math.max(b.tatMs ?? nowMs, nowMs) + n * b.intervalMs;
}

/** When the next task of a key with this TAT may start (epoch ms): the eligible time of one that cannot now. */
export function eligibleAt(b: RateLimitBucket, tatMs: number): number {
  return tatMs - (b.burst - 1) * b.intervalMs;
}
