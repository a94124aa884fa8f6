/**
 * What a workflow definition holds beyond its graph of steps: `on` triggers, run and step
 * `concurrency`, `when` conditions, step `rateLimit`s and `priority`, and the literal inputs of
 * built-in steps. Their defaults and their registration checks, behind one function each, so that
 * dag.ts (normalizeDefinition, validateDefinition) calls them at one place. Pure.
 */
import { normalizeConcurrency, normalizeStepConcurrency } from './concurrency';
import type { StepDefinition, WorkflowDefinition, WorkflowDraft } from './glossary';
import { checkPriority, type INVALID_PRIORITY } from './priorities';
import { checkRateLimits, type RateLimitReason } from './rate-limits';
import { checkBuiltInInputs, checkConditions, type StepCheckReason } from './step-checks';
import { checkTriggers, normalizeTriggers } from './triggers';

/** `ValidationError.data.reason` of the checks here that {@link DefinitionErrorReason} (dag.ts) lists. */
export type FeatureErrorReason = RateLimitReason | typeof INVALID_PRIORITY | StepCheckReason;

/**
 * Fills `definition.on` and the run's and steps' `concurrency` from the draft; a feature left out
 * stays absent, so the definition hashes as before the feature existed.
 *
 * @throws ValidationError when a concurrency policy is invalid (concurrency.ts).
 */
export function normalizeFeatures(draft: WorkflowDraft, definition: WorkflowDefinition): void {
  const on = normalizeTriggers(draft.on);
  if (on !== undefined) definition.on = on;
  (Array.isArray(draft.steps) ? draft.steps : []).forEach((d, i) => {
    const concurrency = normalizeStepConcurrency(draft.name, d, d.concurrency);
    if (concurrency) definition.steps[i]!.concurrency = concurrency;
  });
  const concurrency = normalizeConcurrency(draft.name, draft.concurrency);
  if (concurrency) definition.concurrency = concurrency;
}

/**
 * The checks after the graph's own, in this order: `when` conditions (step-checks.ts), rate
 * limits, priorities, literal inputs of built-in steps, triggers. Within one, steps go in
 * declaration order.
 *
 * @param isDependency whether step j is a (transitive) dependency of step i
 * @throws ValidationError on the first problem
 */
export function checkFeatures(
  wf: string,
  steps: readonly StepDefinition[],
  on: WorkflowDefinition['on'],
  isDependency: (i: number, j: number) => boolean,
): void {
  checkConditions(wf, steps, isDependency);
  checkRateLimits(wf, steps, isDependency);
  steps.forEach((s, i) => s.priority === undefined || checkPriority(s.priority, `steps[${i}].priority`, `${wf}: step "${s.key}": `));
  checkBuiltInInputs(wf, steps);
  checkTriggers(wf, on);
}
