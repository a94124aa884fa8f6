import type { Config } from './index';

/**
 * Every limit the conductor enforces, in one place. Each is enforced before the work it bounds is
 * done, and a refusal is a `LimitExceededError` (`LIMIT_EXCEEDED`, with the limit's name and value)
 * that changes nothing. `docs/LIMITS.md` lists them with their defaults and how to raise them.
 * Areas add their fields under their own heading.
 */
export interface Limits {
  // --- http steps and fair shares (SSRF, per-tenant shares, quotas) ---
  /** Longest `timeoutMs` of an http step (step or input); longer is refused at registerWorkflow. */
  readonly httpStepMaxTimeoutMs: number;
  /** Response bytes an http step reads before it fails. */
  readonly httpStepMaxResponseBytes: number;
  /** Request body bytes an http step may send. */
  readonly httpStepMaxRequestBytes: number;
  /** Redirects an http step follows. */
  readonly httpStepMaxRedirects: number;
  /** Built-in steps of one tenant executing at once per replica. */
  readonly dispatchTenantConcurrency: number;
  /** http steps of one tenant executing at once per replica. */
  readonly httpStepTenantConcurrency: number;
  /** Runs of one tenant PENDING or RUNNING at once (QUOTA_EXCEEDED beyond). */
  readonly tenantMaxActiveRuns: number;
  /** Tasks of one tenant QUEUED at once (QUOTA_EXCEEDED beyond). */
  readonly tenantMaxQueuedTasks: number;
}

/** The limits of a configuration. */
export function limitsFromConfig(config: Config): Limits {
  return Object.freeze({
    // --- http steps and fair shares ---
    httpStepMaxTimeoutMs: config.httpStepMaxTimeoutMs,
    httpStepMaxResponseBytes: config.httpStepMaxResponseBytes,
    httpStepMaxRequestBytes: config.httpStepMaxRequestBytes,
    httpStepMaxRedirects: config.httpStepMaxRedirects,
    dispatchTenantConcurrency: config.dispatchTenantConcurrency,
    httpStepTenantConcurrency: config.httpStepTenantConcurrency,
    tenantMaxActiveRuns: config.tenantMaxActiveRuns,
    tenantMaxQueuedTasks: config.tenantMaxQueuedTasks,
  });
}
