/**
 * The WHERE clause of a run filter, shared by the runs listing and bulk cancel: the same filter
 * finds the same runs in both. Every condition is a parameter, so each combination of conditions
 * is one statement text (one prepared statement, see sql.ts).
 */
import type { Json, RunStatus } from '../domain/glossary';

export interface RunListFilter {
  workflow?: string | null;
  statuses?: readonly RunStatus[] | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
  finishedAfter?: Date | null;
  finishedBefore?: Date | null;
  /** Runs having every one of these tags. */
  tags?: readonly string[] | null;
  /** Runs whose metadata has each of these top-level keys with an equal value. */
  metadata?: { [key: string]: Json } | null;
}

/** Whether a filter has any condition (an empty one matches every run of the tenant). */
export function hasCondition(filter: RunListFilter): boolean {
  return Boolean(
    filter.workflow ||
    filter.statuses?.length ||
    filter.createdAfter ||
    filter.createdBefore ||
    filter.finishedAfter ||
    filter.finishedBefore ||
    filter.tags?.length ||
    (filter.metadata && Object.keys(filter.metadata).length > 0),
  );
}

/**
 * `"tenantId" = $1 AND …` over the `runs` table (unaliased), with its parameters from $1 on.
 *
 * Tags and metadata are matched by jsonb containment (`@>`), which the GIN indexes
 * (jsonb_path_ops) answer. Containment alone is looser than equality for nested values
 * (`{"a": [1, 2]}` contains `{"a": [1]}`), so each metadata key is then compared exactly.
 */
export function runFilterWhere(tenantId: string, filter: RunListFilter): { where: string; params: unknown[] } {
  const where = [`"tenantId" = $1`];
  const params: unknown[] = [tenantId];
  const add = (clause: (n: number) => string, value: unknown) => {
    params.push(value);
    where.push(clause(params.length));
  };
  if (filter.workflow) add((n) => `"workflowName" = $${n}`, filter.workflow);
  if (filter.statuses?.length) add((n) => `status = ANY($${n}::text[])`, filter.statuses);
  if (filter.createdAfter) add((n) => `"createdAt" >= $${n}`, filter.createdAfter);
  if (filter.createdBefore) add((n) => `"createdAt" < $${n}`, filter.createdBefore);
  if (filter.finishedAfter) add((n) => `"finishedAt" >= $${n}`, filter.finishedAfter);
  if (filter.finishedBefore) add((n) => `"finishedAt" < $${n}`, filter.finishedBefore);
  if (filter.tags?.length) add((n) => `tags @> $${n}::jsonb`, JSON.stringify(filter.tags));
  if (filter.metadata && Object.keys(filter.metadata).length > 0) {
    add(
      (n) => `metadata @> $${n}::jsonb AND NOT EXISTS (SELECT 1 FROM jsonb_each($${n}::jsonb) AS f WHERE runs.metadata -> f.key IS DISTINCT FROM f.value)`,
      JSON.stringify(filter.metadata),
    );
  }
  return { where: where.join(' AND '), params };
}
