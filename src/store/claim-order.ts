/**
 * The SQL fragments of the claim order (priorities with aging) and of the rate-limit gate, named
 * here and spliced into the claim statements of tasks.store.ts with one-line edits. The order is
 * `claimRank` of src/domain/priorities.ts in SQL.
 */

/** The priority levels a worker claim scans, highest first (src/domain/priorities.ts). */
export const PRIORITY_LEVELS_SQL = `(VALUES (3), (2), (1)) AS lv(p)`;

/**
 * A ready task's claim rank (smaller first): `availableAt` moved earlier by one aging period per
 * level of priority. `agingParam`: the `$n` holding PRIORITY_AGING_MS.
 */
export function rankAt(alias: string, agingParam: string): string {
  return `(${alias}."availableAt" - (${alias}.priority * ${agingParam}::float8) * interval '1 millisecond')`;
}

/**
 * The rate-limit gate: a task without a rate limit passes; one with a rate limit only when this
 * claim's admission (src/store/rate-limits.store.ts) admitted it. `admittedParam`: the `$n`
 * holding the admitted task ids (uuid[]).
 */
export function rateLimitGate(alias: string, admittedParam: string): string {
  return `(${alias}."rateLimitKey" IS NULL OR ${alias}.id = ANY(${admittedParam}::uuid[]))`;
}
