import type { Config } from './index';

/**
 * Every limit the conductor enforces, in one place. Each is enforced before the work it bounds is
 * done, and a refusal is a `LimitExceededError` (`LIMIT_EXCEEDED`, with the limit's name and value)
 * that changes nothing. `docs/LIMITS.md` lists them with their defaults and how to raise them.
 * Areas add their fields under their own heading.
 */
export interface Limits {
  // (areas add their limits here)
  readonly _placeholder?: never;

  // ops: metrics
  /** Distinct values per tenant-chosen metric label (`workflow`, `queue`); beyond it `__other__`. METRICS_LABEL_VALUES_MAX, @default 100 */
  readonly metricsLabelValuesMax: number;
}

/** The limits of a configuration. */
export function limitsFromConfig(config: Config): Limits {
  return Object.freeze({
    // ops: metrics
    metricsLabelValuesMax: config.metricsLabelValuesMax,
  });
}
