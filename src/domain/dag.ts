/**
 * Workflow definitions as DAGs: defaults, validation and a content hash. The orders of a
 * definition's steps are in step-order.ts; triggers, concurrency, conditions, rate limits and
 * priorities are normalized and checked in definition-features.ts.
 *
 * Edges point from a step to what it depends on: `b.dependsOn = ['a']` means a runs before b.
 * Everything here is pure; all functions expect plain data (e.g. parsed JSON).
 */
import { createHash } from 'node:crypto';
import { checkFeatures, normalizeFeatures, type FeatureErrorReason } from './definition-features';
import type { Json, RetryPolicy, StepDefinition, StepDraft, WorkflowDefinition, WorkflowDraft } from './glossary';
import { DEFAULT_RETRY } from './glossary';
import { LimitExceededError, TemplateError, ValidationError } from './errors';
import { canonicalJson } from './json';
import { listTemplates } from './templates';
import { forEachReads, MAX_FOREACH_ITEMS_BOUND, readsItem } from './for-each';
import { ancestorSets, buildGraph, cycleText, dependsOnOf, findCycle, kahn, quote } from './graph';

/** Step types the conductor executes itself; any other type needs a `queue`. */
export const BUILT_IN_TYPES = ['noop', 'sleep', 'http', 'signal'] as const;
/** Step types the engine itself carries out, inside its transitions (no executor, no queue): `workflow` starts a child run. */
export const ENGINE_STEP_TYPES = ['workflow'] as const;
const STEP_TYPES_WITHOUT_QUEUE: readonly string[] = [...BUILT_IN_TYPES, ...ENGINE_STEP_TYPES];

/** Steps per workflow at most, whatever MAX_STEPS_PER_WORKFLOW says (its upper bound). A run creates one task row per step. */
export const MAX_STEPS = 1000;
export const MAX_ATTEMPTS = 100;
/** Bound of `retry.maxFaults`: each fault costs a lease TTL, so 1000 is already hours of a stuck task. */
export const MAX_FAULTS = 1000;
/** Bound of `timeoutMs` and of retry delays: 7 days. Longer is a misconfiguration, not a wait. */
export const MAX_DURATION_MS = 7 * 24 * 60 * 60 * 1000;
export const MAX_TYPE_LENGTH = 128;

export const WORKFLOW_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;
/** No "." in keys: they are path segments in templates (`steps.<key>.output`). */
export const STEP_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/**
 * Keys that match the pattern but are refused: names of Object.prototype's machinery. A step
 * keyed `__proto__` could never be read back as `steps.__proto__.output`, and any of them as a
 * property name invites prototype pollution in code that merges outputs.
 */
export const RESERVED_STEP_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
export const QUEUE_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

export interface DefinitionLimits {
  /** MAX_STEPS_PER_WORKFLOW; never above {@link MAX_STEPS}. @default MAX_STEPS */
  maxSteps?: number;
}

/** `ValidationError.data.reason` for a rejected definition: the machine-readable contract. */
export type DefinitionErrorReason =
  | 'EMPTY_WORKFLOW'
  | 'TOO_MANY_STEPS'
  | 'INVALID_NAME'
  | 'INVALID_KEY'
  | 'DUPLICATE_KEY'
  | 'SELF_DEPENDENCY'
  | 'UNKNOWN_DEPENDENCY'
  | 'UNKNOWN_BUILT_IN_TYPE'
  | 'INVALID_TYPE'
  | 'INVALID_QUEUE'
  | 'INVALID_RETRY'
  | 'INVALID_TIMEOUT'
  | 'INVALID_TEMPLATE'
  | 'INVALID_SIGNAL_INPUT'
  | 'INVALID_STEP_INPUT'
  | 'CYCLE'
  | 'TEMPLATE_REFERENCES_NON_DEPENDENCY'
  | 'INVALID_FOR_EACH'
  | FeatureErrorReason;

/**
 * Fills the defaults of a draft and validates the result.
 *
 * - `queue` null, `dependsOn` [], `input` {} when absent (an explicit null stays null),
 *   `timeoutMs` null; `retry` is merged field by field over {@link DEFAULT_RETRY}.
 * - `dependsOn` is de-duplicated and sorted, its canonical form, so the hash ignores its order.
 * - Nothing is trimmed: a name with a stray space is rejected, not silently fixed.
 *
 * @throws ValidationError see {@link validateDefinition}.
 */
export function normalizeDefinition(draft: WorkflowDraft, opts: DefinitionLimits = {}): { name: string; definition: WorkflowDefinition } {
  const definition: WorkflowDefinition = {
    description: draft.description ?? null,
    // Only when given: a definition without one hashes as before the field existed.
    ...(draft.inputSchema != null ? { inputSchema: structuredClone(draft.inputSchema) } : {}),
    timeoutMs: draft.timeoutMs ?? null,
    steps: Array.isArray(draft.steps) ? draft.steps.map(normalizeStep) : [],
  };
  normalizeFeatures(draft, definition);
  validateDefinition(draft.name, definition, opts);
  return { name: draft.name, definition };
}

function normalizeStep(draft: StepDraft): StepDefinition {
  return {
    key: draft.key,
    type: draft.type,
    queue: draft.queue ?? null,
    // Code-unit order, not localeCompare: the canonical form must not depend on the host locale.
    dependsOn: [...new Set(draft.dependsOn ?? [])].sort(),
    input: draft.input === undefined ? {} : structuredClone(draft.input),
    retry: mergeRetry(draft.retry),
    timeoutMs: draft.timeoutMs ?? null,
    // Only when set: a definition without fan-out hashes as it did before these fields existed.
    ...(draft.forEach !== undefined && draft.forEach !== null ? { forEach: draft.forEach } : {}),
    ...(draft.maxConcurrency !== undefined && draft.maxConcurrency !== null ? { maxConcurrency: draft.maxConcurrency } : {}),
    ...(draft.continueOnItemFailure ? { continueOnItemFailure: true } : {}),
    ...(draft.when === undefined || draft.when === null ? {} : { when: draft.when }),
    ...(draft.rateLimit == null ? {} : { rateLimit: { key: draft.rateLimit.key, limit: draft.rateLimit.limit, periodMs: draft.rateLimit.periodMs } }),
    ...(draft.priority == null ? {} : { priority: draft.priority }),
  };
}

function mergeRetry(partial: Partial<RetryPolicy> | null | undefined): RetryPolicy {
  const retry: RetryPolicy = { ...DEFAULT_RETRY };
  for (const field of Object.keys(DEFAULT_RETRY) as (keyof RetryPolicy)[]) {
    // GraphQL inputs send null for a field left out; unknown fields are dropped, not hashed.
    const value = partial?.[field];
    if (value !== undefined && value !== null) retry[field] = value;
  }
  return retry;
}

/**
 * Checks a normalized definition and throws on the first problem, found in this order:
 * empty / too many steps, workflow name, step keys, duplicate keys, self and unknown
 * dependencies, types and queues, retry and timeout, template syntax, cycles, templates that read
 * a step which is not a (transitive) dependency, then definition-features.ts's checks (`when`
 * conditions, rate limits, priorities, literal inputs of built-in steps, triggers). Within a
 * phase, steps go in declaration order.
 *
 * @throws ValidationError with a message that says what to fix and
 *   `data: { reason: DefinitionErrorReason, …fields naming the culprit }`.
 */
export function validateDefinition(name: string, definition: WorkflowDefinition, opts: DefinitionLimits = {}): void {
  const steps: StepDefinition[] = Array.isArray(definition.steps) ? definition.steps : [];
  const wf = `Workflow ${quote(name)}`;
  const maxSteps = Math.min(opts.maxSteps ?? MAX_STEPS, MAX_STEPS);

  if (steps.length === 0) {
    fail('EMPTY_WORKFLOW', `${wf} has no steps; declare at least one step`, {});
  }
  if (steps.length > maxSteps) {
    // A limit, not a malformed definition: LIMIT_EXCEEDED, with the reason the other refusals carry.
    throw new LimitExceededError(`${wf} has ${steps.length} steps; the limit is ${maxSteps} (MAX_STEPS_PER_WORKFLOW)`, {
      limit: 'MAX_STEPS_PER_WORKFLOW',
      max: maxSteps,
      actual: steps.length,
      reason: 'TOO_MANY_STEPS',
    });
  }

  if (typeof name !== 'string' || !WORKFLOW_NAME_PATTERN.test(name)) {
    fail('INVALID_NAME', `Workflow name ${quote(name)} is invalid: use 1 to 128 letters, digits, "_", "." or "-", starting with a letter`, { name });
  }
  const runTimeout = definition.timeoutMs ?? null;
  if (runTimeout !== null && !isIntIn(runTimeout, 1, MAX_DURATION_MS)) {
    fail('INVALID_TIMEOUT', `${wf} has timeoutMs ${quote(runTimeout)}; use null (no bound) or an integer from 1 to ${MAX_DURATION_MS} (7 days)`, {
      step: null,
      value: runTimeout,
    });
  }
  steps.forEach((step, i) => {
    if (RESERVED_STEP_KEYS.has(step.key)) {
      fail(
        'INVALID_KEY',
        `${wf}: steps[${i}] has the reserved key ${quote(step.key)}: ${[...RESERVED_STEP_KEYS].join(', ')} cannot be step keys; choose another name`,
        { step: step.key, index: i },
      );
    }
    if (typeof step.key !== 'string' || !STEP_KEY_PATTERN.test(step.key)) {
      fail(
        'INVALID_KEY',
        `${wf}: steps[${i}] has invalid key ${quote(step.key)}: use 1 to 64 letters, digits, "_" or "-", ` +
          `starting with a letter or "_" (keys appear in templates as steps.<key>.output)`,
        { step: step.key, index: i },
      );
    }
  });

  const indexByKey = new Map<string, number>();
  steps.forEach((step, i) => {
    const first = indexByKey.get(step.key);
    if (first !== undefined) {
      fail('DUPLICATE_KEY', `${wf} declares step "${step.key}" twice (steps[${first}] and steps[${i}]); step keys must be unique`, {
        step: step.key,
        indexes: [first, i],
      });
    }
    indexByKey.set(step.key, i);
  });

  for (const step of steps) {
    for (const dep of dependsOnOf(step)) {
      if (dep === step.key) {
        fail('SELF_DEPENDENCY', `${wf}: step "${step.key}" depends on itself; remove "${dep}" from its dependsOn`, {
          step: step.key,
          path: [step.key, step.key],
        });
      }
      if (typeof dep !== 'string' || !indexByKey.has(dep)) {
        fail(
          'UNKNOWN_DEPENDENCY',
          `${wf}: step "${step.key}" depends on ${quote(dep)}, which is not a step of this workflow; ` + `declared steps: ${listKeys(steps)}`,
          { step: step.key, dependency: dep },
        );
      }
    }
  }

  for (const step of steps) checkTypeAndQueue(wf, step);
  for (const step of steps) checkSignalInput(wf, step);
  for (const step of steps) {
    checkRetry(wf, step);
    checkTimeout(wf, step);
  }

  const refs = steps.map((step, index) => {
    let refs;
    try {
      refs = listTemplates(step.input);
    } catch (e: unknown) {
      if (!(e instanceof TemplateError)) throw e;
      fail('INVALID_TEMPLATE', `${wf}: the input of step "${step.key}" has an invalid template. ${e.message}`, {
        step: step.key,
        ...e.data,
      });
    }
    const item = refs.find(readsItem);
    if (item && step.forEach === undefined) {
      fail('INVALID_TEMPLATE', `${wf}: the input of step "${step.key}" reads ${JSON.stringify(item.template)}, but only a step with forEach has an item`, {
        step: step.key,
        template: item.template,
      });
    }
    return [...refs, ...checkForEach(wf, step, index)];
  });

  const graph = buildGraph(steps);
  const order = kahn(graph);
  if (order.length < steps.length) {
    const path = findCycle(graph, order);
    fail('CYCLE', `${wf} has a dependency cycle: ${cycleText(path)}`, { path });
  }

  const ancestry = ancestorSets(graph, order);
  steps.forEach((step, i) => {
    for (const ref of refs[i]) {
      if (ref.stepKey === null) continue;
      const j = indexByKey.get(ref.stepKey);
      if (j !== undefined && ancestry[i].has(j)) continue;
      const why =
        j === undefined
          ? `there is no step "${ref.stepKey}" in this workflow`
          : ref.stepKey === step.key
            ? `a step cannot read its own output`
            : `"${ref.stepKey}" is not a dependency of "${step.key}", direct or transitive; add it to dependsOn`;
      fail('TEMPLATE_REFERENCES_NON_DEPENDENCY', `${wf}: the input of step "${step.key}" reads ${JSON.stringify(ref.template)}, but ${why}`, {
        step: step.key,
        template: ref.template,
        dependency: ref.stepKey,
      });
    }
  });
  checkFeatures(wf, steps, definition.on, (i, j) => ancestry[i].has(j));
}

function checkTypeAndQueue(wf: string, step: StepDefinition): void {
  const { key, type, queue } = step;
  if (type === 'workflow') {
    if (queue !== null && queue !== undefined) {
      fail('INVALID_QUEUE', `${wf}: step "${key}" is a workflow step (it starts a child run, no worker runs it): remove its "queue"`, { step: key, queue });
    }
    checkWorkflowStepInput(wf, key, step.input);
    return;
  }
  if (queue === null || queue === undefined) {
    if (!STEP_TYPES_WITHOUT_QUEUE.includes(type)) {
      fail(
        'UNKNOWN_BUILT_IN_TYPE',
        `${wf}: step "${key}" has type ${quote(type)}, which is not built in (built-in types: ` +
          `${STEP_TYPES_WITHOUT_QUEUE.join(', ')}); to run it on remote workers, set "queue" to the queue they claim from`,
        { step: key, type, builtInTypes: [...STEP_TYPES_WITHOUT_QUEUE] },
      );
    }
    return;
  }
  if (typeof queue !== 'string' || !QUEUE_PATTERN.test(queue)) {
    fail('INVALID_QUEUE', `${wf}: step "${key}" has invalid queue ${quote(queue)}: use 1 to 128 letters, digits, "_", ".", ":" or "-"`, { step: key, queue });
  }
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
    fail('INVALID_TYPE', `${wf}: step "${key}" has invalid type ${quote(type)}: use a non-empty string of at most ${MAX_TYPE_LENGTH} characters`, {
      step: key,
      type,
    });
  }
}

/** Longest signal name: a column of the signals table, and a label of what a run waits for. */
export const MAX_SIGNAL_NAME_LENGTH = 128;

/**
 * A built-in `signal` step's input is literal: `name` a non-empty string (signalRun checks names
 * against the definition, so a template could never be matched), `timeoutMs` absent, null or an
 * integer from 1 to 7 days.
 */
function checkSignalInput(wf: string, step: StepDefinition): void {
  if (step.type !== 'signal' || (step.queue !== null && step.queue !== undefined)) return;
  const input = step.input;
  const shape = `use { "name": "<signal name>", "timeoutMs": <optional integer from 1 to ${MAX_DURATION_MS}> }`;
  const bad = (what: string): never => fail('INVALID_SIGNAL_INPUT', `${wf}: signal step "${step.key}" ${what}; ${shape}`, { step: step.key });
  if (input === null || typeof input !== 'object' || Array.isArray(input)) bad(`has input ${quote(input)}`);
  const { name, timeoutMs, ...rest } = input as Record<string, unknown>;
  if (typeof name !== 'string' || name.trim().length === 0 || name.length > MAX_SIGNAL_NAME_LENGTH) {
    bad(`has name ${quote(name)}: the name must be a non-empty string of at most ${MAX_SIGNAL_NAME_LENGTH} characters`);
  }
  if ((name as string).includes('{{')) bad(`has name ${quote(name)}: the name must be literal, not a template`);
  if (timeoutMs !== undefined && timeoutMs !== null && !isIntIn(timeoutMs, 1, MAX_DURATION_MS)) bad(`has timeoutMs ${quote(timeoutMs)}`);
  const extra = Object.keys(rest);
  if (extra.length) bad(`has unknown input field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}`);
}

/**
 * A workflow step's input as written: `{ "workflow": "<name>", "version": <n>?, "input": … }`, each
 * value a literal or a template. Whether the named workflow exists is checked when the step runs
 * (workflows are registered in any order, and one may start itself): NOT_FOUND then fails the step.
 */
function checkWorkflowStepInput(wf: string, key: string, input: Json): void {
  const problem = (rule: string): never => fail('INVALID_STEP_INPUT', `${wf}: step "${key}" (type workflow) ${rule}`, { step: key });
  if (typeof input === 'string') return; // one template yielding the whole object
  if (input === null || typeof input !== 'object' || Array.isArray(input)) problem('needs an input { "workflow": "<name>", "version": <n>?, "input": { … }? }');
  const { workflow, version, ...rest } = input as Record<string, Json>;
  const extra = Object.keys(rest).filter((k) => k !== 'input');
  if (extra.length) problem(`has unknown input field(s) ${extra.map(quote).join(', ')}; use workflow, version and input`);
  if (typeof workflow !== 'string' || workflow.length === 0) problem('needs "workflow": the name of the workflow to start');
  const templated = typeof workflow === 'string' && workflow.includes('{{');
  if (!templated && !WORKFLOW_NAME_PATTERN.test(workflow as string)) problem(`names workflow ${quote(workflow)}, which is not a valid workflow name`);
  if (version !== undefined && version !== null && typeof version !== 'string' && !isIntIn(version, 1, Number.MAX_SAFE_INTEGER)) {
    problem(`has "version" ${quote(version)}; use a version number (an integer of at least 1), a template, or leave it out for the latest`);
  }
}

function checkRetry(wf: string, step: StepDefinition): void {
  const retry: Partial<Record<keyof RetryPolicy, unknown>> = step.retry ?? {};
  const problem = (field: keyof RetryPolicy, rule: string): never =>
    fail('INVALID_RETRY', `${wf}: step "${step.key}" has retry.${field} ${quote(retry[field])}; ${rule}`, {
      step: step.key,
      field,
      value: retry[field],
    });

  const { maxAttempts, initialDelayMs, backoffFactor, maxDelayMs, maxFaults } = retry;
  if (!isIntIn(maxAttempts, 1, MAX_ATTEMPTS)) {
    problem('maxAttempts', `use an integer from 1 to ${MAX_ATTEMPTS}`);
  }
  if (!isIntIn(initialDelayMs, 0, MAX_DURATION_MS)) {
    problem('initialDelayMs', `use an integer from 0 to ${MAX_DURATION_MS} (7 days)`);
  }
  if (typeof backoffFactor !== 'number' || !Number.isFinite(backoffFactor) || backoffFactor < 1) {
    problem('backoffFactor', 'use a number of at least 1 (1 keeps the delay constant)');
  }
  if (!isIntIn(maxDelayMs, initialDelayMs as number, MAX_DURATION_MS)) {
    problem('maxDelayMs', `use an integer from retry.initialDelayMs (${initialDelayMs}) to ${MAX_DURATION_MS} (7 days)`);
  }
  if (!isIntIn(maxFaults, 0, MAX_FAULTS)) {
    problem('maxFaults', `use an integer from 0 to ${MAX_FAULTS} (0: the first expired lease fails the task)`);
  }
}

/** The forEach fields of a step; what the list reads (its references are checked with the input's). */
function checkForEach(wf: string, step: StepDefinition, index: number): ReturnType<typeof forEachReads> {
  const { forEach, maxConcurrency, continueOnItemFailure } = step;
  if (forEach === undefined) {
    if (maxConcurrency !== undefined || continueOnItemFailure !== undefined) {
      const field = maxConcurrency !== undefined ? 'maxConcurrency' : 'continueOnItemFailure';
      fail('INVALID_FOR_EACH', `${wf}: step "${step.key}" sets ${field}, which applies to a step with forEach only; set forEach or remove ${field}`, {
        step: step.key,
        field,
      });
    }
    return [];
  }
  if (maxConcurrency !== undefined && !isIntIn(maxConcurrency, 1, MAX_FOREACH_ITEMS_BOUND)) {
    fail('INVALID_FOR_EACH', `${wf}: step "${step.key}" has maxConcurrency ${quote(maxConcurrency)}; use an integer from 1 to ${MAX_FOREACH_ITEMS_BOUND}`, {
      step: step.key,
      field: 'maxConcurrency',
      value: maxConcurrency,
    });
  }
  try {
    return forEachReads(forEach, `steps[${index}].forEach`);
  } catch (e: unknown) {
    if (!(e instanceof ValidationError)) throw e;
    // A CEL error's own reason (EXPRESSION_SYNTAX, EXPRESSION_TYPE, …) and offset stay as data.
    const { reason: detail, ...data } = e.data as { reason?: string };
    return fail('INVALID_FOR_EACH', `${wf}: step "${step.key}" has an invalid forEach. ${e.message}`, {
      step: step.key,
      field: 'forEach',
      ...data,
      ...(detail ? { detail } : {}),
    });
  }
}

function checkTimeout(wf: string, step: StepDefinition): void {
  const { timeoutMs } = step;
  if (timeoutMs === null || isIntIn(timeoutMs, 1, MAX_DURATION_MS)) return;
  fail(
    'INVALID_TIMEOUT',
    `${wf}: step "${step.key}" has timeoutMs ${quote(timeoutMs)}; use null (no bound) or an integer from 1 to ` + `${MAX_DURATION_MS} (7 days)`,
    { step: step.key, value: timeoutMs },
  );
}

/**
 * SHA-256 (hex) of the canonical JSON of a definition: an identical definition hashes the same
 * whatever the key order of the JSON it came from. Hash normalized definitions, so that defaults
 * and the order of `dependsOn` do not matter. The order of `steps` does: it breaks ties in
 * {@link topologicalOrder}.
 */
export function definitionHash(definition: WorkflowDefinition): string {
  return createHash('sha256')
    .update(canonicalJson(definition as unknown as Json))
    .digest('hex');
}

function isIntIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function listKeys(steps: readonly StepDefinition[]): string {
  const shown = steps.slice(0, 20).map((s) => s.key);
  return shown.join(', ') + (steps.length > shown.length ? `, … (${steps.length} in all)` : '');
}

function fail(reason: DefinitionErrorReason, message: string, data: Record<string, unknown>): never {
  throw new ValidationError(message, { reason, ...data });
}
