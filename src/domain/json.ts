import type { Json } from './glossary';

// NUL is exactly what this pattern is for.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A JSON value Postgres can store: NUL characters and unpaired surrogates (which jsonb and text
 * refuse) become U+FFFD. For results the conductor produces itself (an http step's response);
 * what callers send is refused instead, with BAD_USER_INPUT.
 */
export function storable(value: Json): Json {
  if (typeof value === 'string') return value.replace(UNSTORABLE, '\uFFFD');
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(UNSTORABLE, '\uFFFD'), storable(v)]));
  }
  return value;
}

/**
 * JSON with object keys sorted by UTF-16 code unit at every depth, no whitespace; `undefined`
 * members are left out as `JSON.stringify` does. For JSON data this matches RFC 8785 (JCS), which
 * also sorts by code unit and prints numbers the way `JSON.stringify` does.
 */
export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
