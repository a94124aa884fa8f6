/**
 * A run's tags and metadata: labels a caller attaches at `startRun` to find and act on runs later
 * (`runs(filter: { tags, metadata })`, `cancelRuns`). Checked at the boundary, before anything is
 * stored; the bounds are fixed (docs/LIMITS.md "Run tags and metadata"), sized for labels, not
 * payloads (payloads go in the input).
 */
import { LimitExceededError, ValidationError } from './errors';
import type { Json } from './glossary';
import { checkJson, checkWellFormed } from './json-limits';

/** Tags of one run (and of one filter) at most. */
export const RUN_TAGS_MAX = 32;
/** Characters of one tag at most. */
export const RUN_TAG_MAX_LENGTH = 128;
/** Bytes of JSON of a run's metadata (and of a metadata filter) at most: 16 KiB. */
export const RUN_METADATA_MAX_BYTES = 16 * 1024;

/** Letters, digits and `_ - . : / = @ +`: safe in logs, URLs and shells; `env:prod`, `team=payments`, `release/1.2`. */
const TAG_PATTERN = /^[A-Za-z0-9_.:/=@+-]+$/;

export type RunMetadata = { [key: string]: Json };

/**
 * A run's tags in their canonical form: each checked, duplicates dropped, sorted by code unit (so
 * the idempotency hash and the stored array ignore order and repeats).
 *
 * @throws LimitExceededError RUN_TAGS_MAX, RUN_TAG_MAX_LENGTH
 * @throws ValidationError a tag empty or with other characters
 */
export function normalizeTags(tags: readonly string[] | null | undefined, field = 'tags'): string[] {
  if (!tags || tags.length === 0) return [];
  if (tags.length > RUN_TAGS_MAX) {
    throw new LimitExceededError(`"${field}" has ${tags.length} tags; at most ${RUN_TAGS_MAX} (RUN_TAGS_MAX)`, {
      limit: 'RUN_TAGS_MAX',
      max: RUN_TAGS_MAX,
      actual: tags.length,
      field,
    });
  }
  for (const tag of tags) {
    if (tag.length > RUN_TAG_MAX_LENGTH) {
      throw new LimitExceededError(`A tag in "${field}" is ${tag.length} characters long; at most ${RUN_TAG_MAX_LENGTH} (RUN_TAG_MAX_LENGTH)`, {
        limit: 'RUN_TAG_MAX_LENGTH',
        max: RUN_TAG_MAX_LENGTH,
        actual: tag.length,
        field,
      });
    }
    checkWellFormed(field, tag);
    if (!TAG_PATTERN.test(tag)) {
      throw new ValidationError(
        `Tag ${JSON.stringify(tag)} in "${field}" is not valid: use 1 to ${RUN_TAG_MAX_LENGTH} letters, digits, "_", "-", ".", ":", "/", "=", "@" or "+"`,
        {
          field,
          reason: 'INVALID_TAG',
          tag,
        },
      );
    }
  }
  return [...new Set(tags)].sort();
}

/**
 * Metadata is a JSON object (its top-level keys are what filters match), at most
 * RUN_METADATA_MAX_BYTES and MAX_JSON_DEPTH deep, storable (no NUL, no `__proto__`).
 */
export function checkMetadata(value: Json | null | undefined, maxDepth: number, field = 'metadata'): RunMetadata {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`"${field}" must be a JSON object of keys and values, e.g. {"customer": "c-42"}`, { field, reason: 'INVALID_METADATA' });
  }
  checkJson(value, { what: `the ${field}`, maxDepth, maxBytes: RUN_METADATA_MAX_BYTES, bytesLimit: 'RUN_METADATA_MAX_BYTES' });
  return value;
}
