import type { Config } from './index';

/**
 * Every limit the conductor enforces, in one place. Each is enforced before the work it bounds is
 * done, and a refusal is a `LimitExceededError` (`LIMIT_EXCEEDED`, with the limit's name and value)
 * that changes nothing. `docs/LIMITS.md` lists them with their defaults and how to raise them.
 * Areas add their fields under their own heading.
 */
export interface Limits {
  // --- data sizes (inputs, outputs, definitions, templates) -----------------------------------
  /** MAX_JSON_DEPTH: nesting depth of any JSON value (the scalar, inputs, outputs, definitions). */
  readonly maxJsonDepth: number;
  /** MAX_INPUT_BYTES: a run input, and each step's input as written in a definition. */
  readonly maxInputBytes: number;
  /** MAX_OUTPUT_BYTES: a step's output, from a built-in executor or a worker's completeTask. */
  readonly maxOutputBytes: number;
  /** MAX_DEFINITION_BYTES: a whole workflow definition as registered. */
  readonly maxDefinitionBytes: number;
  /** MAX_STEPS_PER_WORKFLOW: steps of one workflow (a run creates one task per step). */
  readonly maxStepsPerWorkflow: number;
  /** MAX_TEMPLATE_STRING_BYTES: what one templated string may expand to. */
  readonly maxTemplateStringBytes: number;
  /** MAX_TEMPLATE_TASK_BYTES: what a task's whole input may expand to. */
  readonly maxTemplateTaskBytes: number;
}

/** The limits of a configuration. */
export function limitsFromConfig(config: Config): Limits {
  return Object.freeze({
    // data sizes
    maxJsonDepth: config.maxJsonDepth,
    maxInputBytes: config.maxInputBytes,
    maxOutputBytes: config.maxOutputBytes,
    maxDefinitionBytes: config.maxDefinitionBytes,
    maxStepsPerWorkflow: config.maxStepsPerWorkflow,
    maxTemplateStringBytes: config.maxTemplateStringBytes,
    maxTemplateTaskBytes: config.maxTemplateTaskBytes,
  });
}
