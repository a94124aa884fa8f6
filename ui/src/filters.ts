/** The runs list's filter form, as typed. */
export interface Filters {
  workflow: string;
  status: string[];
  createdAfter: string;
  createdBefore: string;
  tags: string;
}

/** The RunFilter of the form: only the conditions filled in. */
export function toRunFilter(f: Filters): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  if (f.workflow.trim()) filter.workflow = f.workflow.trim();
  if (f.status.length) filter.status = f.status;
  if (f.createdAfter) filter.createdAfter = new Date(f.createdAfter).toISOString();
  if (f.createdBefore) filter.createdBefore = new Date(f.createdBefore).toISOString();
  const tags = f.tags
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (tags.length) filter.tags = tags;
  return filter;
}
