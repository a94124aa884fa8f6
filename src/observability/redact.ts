/**
 * PII and secret scrubbing for log lines (runbook section 6). No dependencies, synchronous, and
 * cheap enough to run on every line: one pass over a string finds which patterns could match at
 * all (most strings: none), ids take an anchored regex test, and short clean strings that repeat
 * (statuses, names) a set lookup. Measured in test/unit/redact.test.ts.
 *
 * Two layers:
 * - {@link scrubText}: free text. Emails, phone numbers, US SSNs, Luhn-valid card numbers, JWTs,
 *   `Bearer`/`Basic` credentials, our API keys (`mk_…`), `key=value` secrets and the credentials of
 *   connection strings become `[REDACTED:<kind>]`; CR, LF and the Unicode line separators become a
 *   space so a user-supplied string cannot forge a log line.
 * - {@link scrubValue}: a copy of a value with every string scrubbed and the values under
 *   sensitive keys (`authorization`, `password`, `apiKey`, `databaseUrl`…) replaced by
 *   `[REDACTED]`. Errors become plain objects (pino's `err` shape) with scrubbed message and stack.
 *
 * The patterns prefer a missed exotic format over mangling ordinary log text: phone numbers need
 * separators or a leading `+` (a bare integer is not a phone number), and a card number must be
 * Luhn-valid *and* have a card network's length and leading digits, which keeps epoch
 * timestamps, snowflake ids and `yyyyMMddHHmmss` stamps out (measured on the clean corpus in
 * test/integration/pii-logs.test.ts).
 */
import { isCardNumber, REDACTED, scrubText, token } from './redact-text';

export { isCardNumber, luhnValid, REDACTED, scrubText, type RedactionKind } from './redact-text';
/** Keys whose values are secrets whatever they look like (compared lower-cased, without `-`, `_`, `.`, spaces). */
const SENSITIVE_KEYS = new Set([
  'authorization',
  'proxyauthorization',
  'cookie',
  'cookies',
  'setcookie',
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'xapikey',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'sessiontoken',
  'clientsecret',
  'privatekey',
  'databaseurl',
  'redisurl',
  'connectionstring',
  'dsn',
  'ssn',
  'socialsecuritynumber',
  'creditcard',
  'creditcardnumber',
  'cardnumber',
  'cvv',
  'cvc',
]);
/** …and keys ending in one of these (`dbPassword`, `githubToken`, `awsSecretAccessKey` via `accesskey`). */
const SENSITIVE_SUFFIXES = [
  'password',
  'passwd',
  'secret',
  'token',
  'apikey',
  'privatekey',
  'secretkey',
  'accesskey',
  'authorization',
  'cookie',
  'connectionstring',
  'databaseurl',
  'redisurl',
  'dsn',
];
/** Log keys repeat: cache the verdicts (bounded, so attacker-chosen keys cannot grow it forever). */
const keyVerdicts = new Map<string, boolean>();

/** True when the value under `key` is a secret (case-insensitive; `api_key`, `x-api-key`, `apiKey` alike). */
export function isSensitiveKey(key: string): boolean {
  const cached = keyVerdicts.get(key);
  if (cached !== undefined) return cached;
  const k = key.toLowerCase().replace(/[-_.\s]/g, '');
  const verdict = SENSITIVE_KEYS.has(k) || SENSITIVE_SUFFIXES.some((s) => k.endsWith(s));
  if (keyVerdicts.size >= 4096) keyVerdicts.clear();
  keyVerdicts.set(key, verdict);
  return verdict;
}

export interface ScrubOptions {
  /**
   * Objects nested deeper than this become `"[Truncated]"`.
   * @default 8
   */
  maxDepth?: number;
  /**
   * Keys kept per object and items per array; the rest are summarised.
   * @default 100
   */
  maxKeys?: number;
  /**
   * Objects and arrays visited in one call before the rest become `"[Truncated]"`: a bound on
   * the cost of one log line.
   * @default 2000
   */
  maxNodes?: number;
  /**
   * Strings are cut to this many characters (before scrubbing, which is linear in the length).
   * @default 16384
   */
  maxStringLength?: number;
}

interface Walk {
  readonly maxDepth: number;
  readonly maxKeys: number;
  readonly maxNodes: number;
  readonly maxStringLength: number;
  nodes: number;
  /**
   * The objects on the current path: a repeat is a cycle (a shared, non-cyclic reference is
   * copied, as JSON would). An array: the path is at most maxDepth long.
   */
  readonly ancestors: object[];
}

function newWalk(o: ScrubOptions): Walk {
  // Built field by field: an object spread here cost more than the scrubbing of a typical line.
  return {
    maxDepth: o.maxDepth ?? 8,
    maxKeys: o.maxKeys ?? 100,
    maxNodes: o.maxNodes ?? 2000,
    maxStringLength: o.maxStringLength ?? 16_384,
    nodes: 0,
    ancestors: [],
  };
}

/**
 * A copy of `value` safe to log: strings scrubbed ({@link scrubText}), values under sensitive keys
 * replaced by `[REDACTED]`, Luhn-valid card numbers stored as numbers redacted, Errors turned into
 * `{ type, message, stack, …own props }` with message and stack scrubbed, HTTP requests reduced
 * to method, url and (redacted) headers. Cycles become `"[Circular]"`; depth, width, node count
 * and string length are bounded (see {@link ScrubOptions}).
 */
export function scrubValue<T>(value: T, options: ScrubOptions = {}): T | string {
  return visit(value, 0, newWalk(options)) as T | string;
}

/**
 * {@link scrubValue} for a record whose own keys are kept (pino's merged object, bindings):
 * never truncated to a string at the top.
 */
export function scrubRecord(record: Record<string, unknown>, options: ScrubOptions = {}): Record<string, unknown> {
  return visitObject(record, 0, newWalk(options));
}

function visit(value: unknown, depth: number, w: Walk): unknown {
  switch (typeof value) {
    case 'string':
      return scrubString(value, w);
    case 'number':
      // A card number logged as a number (16 digits still fit a double exactly).
      return value >= 1e12 && Number.isSafeInteger(value) && isCardNumber(String(value)) ? token('card') : value;
    case 'bigint':
      return value >= 1_000_000_000_000n && isCardNumber(value.toString()) ? token('card') : value;
    case 'object':
      return value === null ? null : visitNonNull(value, depth, w);
    default:
      return value;
  }
}

function scrubString(s: string, w: Walk): string {
  if (s.length > w.maxStringLength) s = `${s.slice(0, w.maxStringLength)}…[truncated ${s.length - w.maxStringLength} chars]`;
  return scrubText(s);
}

function visitNonNull(value: object, depth: number, w: Walk): unknown {
  if (depth >= w.maxDepth || w.nodes >= w.maxNodes) return '[Truncated]';
  if (w.ancestors.includes(value)) return '[Circular]';
  if (isError(value)) return visitError(value, depth, w);
  if (Array.isArray(value)) return visitArray(value, depth, w);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[Binary ${value.byteLength} bytes]`;
  if (value instanceof Map) return visitObject(Object.fromEntries([...value].map(([k, v]) => [String(k), v])), depth, w);
  if (value instanceof Set) return visitArray([...value], depth, w);
  const v = value as Record<string, unknown>;
  if (typeof v['method'] === 'string' && typeof v['headers'] === 'object' && v['socket'] !== undefined) return visitObject(requestSummary(v), depth, w);
  if (typeof v['setHeader'] === 'function' && typeof v['statusCode'] === 'number') return visitObject(responseSummary(v), depth, w);
  if (typeof v['toJSON'] === 'function') {
    // Dates, URLs (whose JSON is the href, credentials included), Buffers, entities.
    const json = (v['toJSON'] as () => unknown)();
    return json === value ? visitObject(v, depth, w) : visit(json, depth, w);
  }
  return visitObject(v, depth, w);
}

function visitObject(obj: Record<string, unknown>, depth: number, w: Walk): Record<string, unknown> {
  w.nodes++;
  w.ancestors.push(obj);
  const out: Record<string, unknown> = {};
  let kept = 0;
  let skipped = 0;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    if (kept >= w.maxKeys) {
      skipped++;
      continue;
    }
    kept++;
    const v = obj[key];
    out[key] = isSensitiveKey(key) ? redactAll(v) : visit(v, depth + 1, w);
  }
  if (skipped) out['[truncated]'] = `${skipped} more keys`;
  w.ancestors.pop();
  return out;
}

function visitArray(arr: readonly unknown[], depth: number, w: Walk): unknown[] {
  w.nodes++;
  w.ancestors.push(arr);
  const n = Math.min(arr.length, w.maxKeys);
  const out: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = visit(arr[i], depth + 1, w);
  if (arr.length > n) out.push(`[${arr.length - n} more items]`);
  w.ancestors.pop();
  return out;
}

/** Absent and empty values say something useful ("no key was sent") and nothing secret. */
function redactAll(v: unknown): unknown {
  return v === undefined || v === null || v === '' ? v : REDACTED;
}

function isError(v: object): v is Error {
  return v instanceof Error || Object.prototype.toString.call(v) === '[object Error]';
}

/**
 * pino's `err` shape (`type`, `message` and `stack` with their causes, `aggregateErrors`, own
 * enumerable properties such as `code` and `data`), scrubbed. The stack keeps its frame lines;
 * the message part of it (which may span lines) is joined and scrubbed like any text.
 */
function visitError(e: Error, depth: number, w: Walk): Record<string, unknown> {
  w.nodes++;
  w.ancestors.push(e);
  const ctor = (e as { constructor?: { name?: unknown } }).constructor;
  const out: Record<string, unknown> = {
    type: typeof ctor?.name === 'string' && ctor.name ? ctor.name : e.name,
    message: scrubString(
      withCauses(e, (x) => x.message, ': '),
      w,
    ),
    stack: scrubStack(withCauses(e, (x) => x.stack ?? '', '\ncaused by: ')),
  };
  const aggregate = (e as { errors?: unknown }).errors;
  if (Array.isArray(aggregate)) out['aggregateErrors'] = visitArray(aggregate, depth + 1, w);
  for (const key of Object.keys(e)) {
    if (key in out || key === 'cause' || key === 'errors') continue;
    out[key] = isSensitiveKey(key)
      ? redactAll((e as unknown as Record<string, unknown>)[key])
      : visit((e as unknown as Record<string, unknown>)[key], depth + 1, w);
  }
  w.ancestors.pop();
  return out;
}

/** `e`'s part followed by its causes' (at most 5, stopping at a cycle), as pino-std-serializers joins them. */
function withCauses(e: Error, part: (x: Error) => string, joiner: string): string {
  let out = String(part(e) ?? '');
  const seen = new Set<unknown>([e]);
  let cause = (e as { cause?: unknown }).cause;
  for (let i = 0; i < 5 && cause instanceof Error && !seen.has(cause); i++) {
    seen.add(cause);
    out += joiner + String(part(cause) ?? '');
    cause = (cause as { cause?: unknown }).cause;
  }
  return out;
}

const FRAME = /^\s+at /;

/**
 * A stack with its `    at …` frame lines kept apart and every other run of lines (the message,
 * which may carry user text with line breaks) joined into one line; every line scrubbed.
 */
export function scrubStack(stack: string): string {
  if (!stack) return stack;
  const lines = stack.split(/\r\n|[\r\n\u0085\u2028\u2029]/);
  const out: string[] = [];
  let header: string | null = null;
  for (const line of lines) {
    if (FRAME.test(line)) {
      if (header !== null) out.push(scrubText(header));
      header = null;
      out.push(scrubText(line));
    } else {
      header = header === null ? line : `${header} ${line}`;
    }
  }
  if (header !== null) out.push(scrubText(header));
  return out.join('\n');
}

/** What a log line needs of an http.IncomingMessage (pino-std-serializers' `req` shape). */
function requestSummary(req: Record<string, unknown>): Record<string, unknown> {
  const socket = req['socket'] as { remoteAddress?: string; remotePort?: number } | undefined;
  return {
    ...(req['id'] !== undefined ? { id: req['id'] } : {}),
    method: req['method'],
    url: (req['originalUrl'] as string | undefined) ?? req['url'],
    headers: req['headers'],
    remoteAddress: socket?.remoteAddress,
    remotePort: socket?.remotePort,
  };
}

/** What a log line needs of an http.ServerResponse. */
function responseSummary(res: Record<string, unknown>): Record<string, unknown> {
  const getHeaders = res['getHeaders'];
  return { statusCode: res['statusCode'], headers: typeof getHeaders === 'function' ? (getHeaders as () => unknown).call(res) : undefined };
}
