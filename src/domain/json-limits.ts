/**
 * Size and shape checks of JSON values, before anything recursive (structuredClone, JSON.stringify,
 * a jsonb write) touches them. Every walk here is iterative: a value nested 100,000 levels deep
 * is refused, not a stack overflow.
 *
 * Sizes are UTF-8 bytes of the value's compact JSON text, not counting the backslashes of escaped
 * characters (a lower bound of `JSON.stringify`'s length, within a few percent for real data).
 */
import { LimitExceededError, ValidationError } from './errors';

/** Nesting depth of values the conductor accepts at all, whatever MAX_JSON_DEPTH says: its upper bound. */
export const HARD_MAX_JSON_DEPTH = 1_000;

/** Object keys that are refused in JSON values: `Object.assign`/merges turn them into prototype writes. */
export const RESERVED_JSON_KEYS: ReadonlySet<string> = new Set(['__proto__']);

/** NUL, or a surrogate without its pair: Postgres text and jsonb cannot store either. */
// eslint-disable-next-line no-control-regex
const UNSTORABLE_CHAR = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** A lone surrogate alone (for keys and names: NUL is refused by their patterns or by Postgres). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export interface JsonBounds {
  /** What is checked, for messages: `the run input`, `the output of step "fetch"`. */
  what: string;
  maxDepth: number;
  maxBytes: number;
  /** The env var of `maxBytes`, named in the error (`MAX_INPUT_BYTES`). */
  bytesLimit: string;
  /**
   * Also refuse (ValidationError, BAD_USER_INPUT) what Postgres cannot store (NUL, unpaired
   * surrogates, in strings and keys), reserved keys (`__proto__`) and non-JSON values (NaN,
   * Infinity, undefined, functions). @default true
   */
  strict?: boolean;
}

/** UTF-8 bytes of a JS string (its code units encoded; a lone surrogate counts as 3, as U+FFFD would). */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Whether a string holds a character Postgres text/jsonb refuses (NUL, an unpaired surrogate). */
export function hasUnstorableChar(s: string): boolean {
  return UNSTORABLE_CHAR.test(s);
}

/** Whether a string holds an unpaired UTF-16 surrogate (which a UTF-8 encoder turns into U+FFFD). */
export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

/**
 * Refuses a string argument with an unpaired surrogate: encoded to UTF-8 it becomes U+FFFD, so
 * "a\uD800" and "a\uD801" would silently name the same idempotency key, worker or type.
 */
export function checkWellFormed(field: string, value: string | null | undefined): void {
  if (typeof value === 'string' && hasLoneSurrogate(value)) {
    throw new ValidationError(`"${field}" holds an unpaired UTF-16 surrogate; send well-formed Unicode text`, { field, reason: 'MALFORMED_UNICODE' });
  }
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | null;
  key: string | number | null;
}

/**
 * Measures a JSON value and throws on the first bound it crosses. Returns its size in bytes.
 *
 * @throws LimitExceededError `MAX_JSON_DEPTH` (deeper than `maxDepth`; `actual` is the depth at
 *   which the walk stopped) or `bytesLimit` (`actual` is the whole size: the value is in memory
 *   already, counting it allocates nothing).
 * @throws ValidationError (strict) for what Postgres cannot store, reserved keys, non-JSON values;
 *   `data.path` says where.
 */
export function checkJson(value: unknown, bounds: JsonBounds): number {
  const strict = bounds.strict ?? true;
  let bytes = 0;
  const stack: Frame[] = [{ value, depth: 0, parent: null, key: null }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (v === null) {
      bytes += 4;
    } else if (typeof v === 'string') {
      if (strict && hasUnstorableChar(v)) throw unstorable(bounds, frame, 'a string holds a NUL character (\\u0000) or an unpaired surrogate');
      bytes += utf8Bytes(v) + 2;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) {
        if (strict) throw unstorable(bounds, frame, `${String(v)} is not a JSON number`);
        bytes += 4;
      } else {
        bytes += String(v).length;
      }
    } else if (typeof v === 'boolean') {
      bytes += v ? 4 : 5;
    } else if (typeof v === 'object') {
      const depth = frame.depth + 1;
      if (depth > bounds.maxDepth) {
        throw new LimitExceededError(`${capitalize(bounds.what)} is nested more than ${bounds.maxDepth} levels deep (MAX_JSON_DEPTH)`, {
          limit: 'MAX_JSON_DEPTH',
          max: bounds.maxDepth,
          actual: depth,
        });
      }
      if (Array.isArray(v)) {
        bytes += 2 + Math.max(0, v.length - 1);
        for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], depth, parent: frame, key: i });
      } else {
        const keys = Object.keys(v);
        bytes += 2 + Math.max(0, keys.length - 1) + keys.length;
        for (let i = keys.length - 1; i >= 0; i--) {
          const k = keys[i];
          // Left out, as JSON.stringify leaves it out.
          if ((v as Record<string, unknown>)[k] === undefined) continue;
          if (strict) {
            if (RESERVED_JSON_KEYS.has(k)) throw unstorable(bounds, { ...frame, key: k, parent: frame }, `the key "${k}" is reserved`, 'RESERVED_KEY');
            if (hasUnstorableChar(k)) throw unstorable(bounds, frame, 'a key holds a NUL character (\\u0000) or an unpaired surrogate');
          }
          bytes += utf8Bytes(k) + 2;
          stack.push({ value: (v as Record<string, unknown>)[k], depth, parent: frame, key: k });
        }
      }
    } else if (strict) {
      throw unstorable(bounds, frame, `${typeof v} is not a JSON value`);
    }
  }
  if (bytes > bounds.maxBytes) {
    throw new LimitExceededError(`${capitalize(bounds.what)} is ${bytes} bytes of JSON; the limit is ${bounds.maxBytes} (${bounds.bytesLimit})`, {
      limit: bounds.bytesLimit,
      max: bounds.maxBytes,
      actual: bytes,
    });
  }
  return bytes;
}

/**
 * Size of a value's JSON text, counting at most up to `budget`: returns a number above `budget`
 * as soon as it knows the value is larger, having walked no more than about `budget` bytes of it.
 * No depth check: callers measure values that passed {@link checkJson} (a run input, outputs).
 */
export function jsonBytesUpTo(value: unknown, budget: number): number {
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || v === undefined) bytes += 4;
    else if (typeof v === 'string') bytes += utf8Bytes(v) + 2;
    else if (typeof v === 'number') bytes += String(v).length;
    else if (typeof v === 'boolean') bytes += v ? 4 : 5;
    else if (Array.isArray(v)) {
      bytes += 2 + Math.max(0, v.length - 1);
      if (bytes > budget) return bytes;
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v);
      bytes += 2 + Math.max(0, keys.length - 1) + keys.length;
      for (let i = keys.length - 1; i >= 0; i--) {
        bytes += utf8Bytes(keys[i]) + 2;
        stack.push((v as Record<string, unknown>)[keys[i]]);
      }
    }
    if (bytes > budget) return bytes;
  }
  return bytes;
}

function pathOf(frame: Frame): string {
  const parts: string[] = [];
  for (let f: Frame | null = frame; f !== null && f.key !== null; f = f.parent) {
    parts.push(typeof f.key === 'number' ? `[${f.key}]` : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(f.key) ? `.${f.key}` : `[${JSON.stringify(f.key)}]`);
    if (parts.length > 20) {
      parts.push('…');
      break;
    }
  }
  return `$${parts.reverse().join('')}`;
}

function unstorable(bounds: JsonBounds, frame: Frame, why: string, reason = 'UNSTORABLE_VALUE'): ValidationError {
  const path = pathOf(frame);
  return new ValidationError(`${capitalize(bounds.what)} cannot be accepted at ${path}: ${why}`, { reason, path });
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
