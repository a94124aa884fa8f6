import { ValidationError } from '../../domain/errors';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export function pageSize(first: number | null | undefined): number {
  if (first == null) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new ValidationError(`"first" must be between 1 and ${MAX_PAGE_SIZE}, got ${first}`, { field: 'first' });
  }
  return first;
}
