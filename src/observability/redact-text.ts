/**
 * Free-text scrubbing (see redact.ts for the whole picture): emails, phone numbers, US SSNs,
 * Luhn-valid card numbers, JWTs, `Bearer`/`Basic` credentials, our API keys (`mk_…`), `key=value`
 * secrets and connection-string credentials become `[REDACTED:<kind>]`; line breaks become spaces.
 */
export const REDACTED = '[REDACTED]';
export type RedactionKind = 'email' | 'phone' | 'ssn' | 'card' | 'jwt' | 'bearer' | 'basic' | 'api_key' | 'secret' | 'credentials';
export const token = (kind: RedactionKind): string => `[REDACTED:${kind}]`;

/** CR, LF, NEL and the Unicode line/paragraph separators: what a log viewer may break a line on. */
const LINE_BREAKS = /\r\n|[\r\n\u0085\u2028\u2029]/g;

/**
 * `scheme://user:password@host` (also `redis://:password@host`): the userinfo goes, the scheme
 * and host stay. The password may hold an unencoded `@` (greedy up to the last one before the
 * path); `/`, `?` and `#` end the authority, so `http://host:8080/a@b` is not a credential.
 */
const CONNECTION_CREDENTIALS = /\b([a-z][a-z0-9+.-]{0,30}):\/\/[^\s:@/?#]*:[^\s/?#]*@/gi;

/**
 * `password=…`, `"token": "…"`, `Authorization: Bearer …` inside text (JSON bodies in error
 * messages, DSNs like `host=db password=…`). The key and separator stay; the value goes. The key
 * must start a word: `lease_token = lease_token + 1` (SQL) is not a secret; `access_token` is
 * listed as a whole.
 */
const KEY_VALUE_SECRET =
  /\b(passwd|password|pwd|secret|token|api[_-]?key|x-api-key|access[_-]?token|refresh[_-]?token|client[_-]?secret|private[_-]?key|authorization)(["']?\s{0,4}[:=]\s{0,4}["']?)((?:bearer|basic)\s+)?(?!\[REDACTED)[^\s"'&,;]+/gi;
const KEY_VALUE_HINT = /passw|pwd|secret|token|api.?key|authorization/i;

/** `Bearer <token>` / `Basic <base64>`; the callback decides whether the word after is a credential. */
const AUTH_SCHEME = /\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{6,})/gi;

/**
 * Three base64url segments, the first a JSON object (`{"` is `eyJ`); the signature may be empty
 * (alg none). A lone base64url JSON segment goes too: it may be a JWT's payload quoted on its own
 * (an error message naming one path segment did exactly that in the integration test).
 */
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*|[A-Za-z0-9_-]{10,}(?![A-Za-z0-9_-]))/g;

/** Our API keys: `mk_` + 43 base64url characters (32 random bytes); 32+ also catches damaged copies. */
const API_KEY = /(?<![A-Za-z0-9_-])mk_[A-Za-z0-9_-]{32,}/g;

/** Local part that starts at a word boundary (the lookbehind keeps the scan linear), dotted domain, letter TLD. */
const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;

/**
 * 13–19 digits, contiguous or grouped by single spaces or dashes, not inside a longer token
 * (`ORD-4111…`, `v1.2.3`, a build number after `+`). The callback checks network, length and Luhn.
 */
const CARD_CANDIDATE = /(?<![\w.+-])\d(?:[ -]?\d){12,18}(?![\w]|[.-]\d)/g;

/** ###-##-#### (or spaced), not inside a longer dashed or dotted token. */
const SSN = /(?<![\w.+-])\d{3}([- ])\d{2}\1\d{4}(?![\w]|[.-]\d)/g;

/**
 * A `+` and a country code, then digit groups (an optional `(0)`-style trunk group), 8–15 digits in
 * all (E.164's bounds, checked in the callback). The `+` must not follow a word character, which
 * keeps semver build metadata (`1.0.0+20130313`) and UTC offsets (`…00+05:30`) out.
 */
const PHONE_INTL = /(?<![\w+])\+\d{1,4}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,14})?(?:[ .-]\d{1,14}){0,6}(?![\w]|[.-]\d)/g;

/**
 * North American numbers with separators: `(415) 555-2671`, `415-555-2671`, `415.555.2671`,
 * `1 415 555 2671`; the area code starts with 2–9 (as NANP's do), which keeps lists of round
 * numbers (`100 250 1000`) out. Also trunk-prefixed local formats with a parenthesised area code:
 * `(020) 7183 8750`.
 */
const PHONE_LOCAL =
  /(?<![\w.+-])(?:(?:1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?\d{3}[ .-]\d{4}|[2-9]\d{2}([ .-])\d{3}\1\d{4})|\(0\d{1,4}\)[ ]?\d{3,4}[ -]?\d{4})(?![\w]|[.-]\d)/g;

/**
 * The text with PII and secrets replaced by `[REDACTED:<kind>]` and line breaks by spaces.
 * Returns `s` itself (no copy) when nothing matched.
 */
export function scrubText(s: string): string {
  const out = scrubPlain(s);
  // Percent-encoded PII (`?email=jane%40example.com`, `phone=%2B14155552671`): scrub the decoded
  // text too, and when that finds something, log the decoded, scrubbed form.
  if (out.length > 5 && out.includes('%') && PERCENT_ESCAPE.test(out)) {
    const decoded = out.replace(PERCENT_ESCAPES, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    const scrubbed = scrubPlain(decoded);
    if (scrubbed !== decoded) return scrubbed;
  }
  return out;
}

const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;
const PERCENT_ESCAPES = /%([0-9A-Fa-f]{2})/g;

function scrubPlain(s: string): string {
  const short = s.length <= CLEAN_CACHE_MAX_LENGTH;
  if (short ? cleanCache.has(s) : IDENTIFIER.test(s) && !s.includes('eyJ')) return s;
  const f = features(s);
  if (f === 0) {
    if (short) rememberClean(s);
    return s;
  }
  let out = f & F_LINE_BREAK ? s.replace(LINE_BREAKS, ' ') : s;
  if (f & F_AT && out.includes('://')) out = out.replace(CONNECTION_CREDENTIALS, (_m, scheme: string) => `${scheme}://${token('credentials')}@`);
  if (f & F_COLON_EQ && KEY_VALUE_HINT.test(out)) out = out.replace(KEY_VALUE_SECRET, keyValueReplacer);
  if (f & F_LETTER_B && AUTH_HINT.test(out)) out = out.replace(AUTH_SCHEME, authSchemeReplacer);
  if (f & F_EYJ) out = out.replace(JWT, token('jwt'));
  if (f & F_UNDERSCORE && out.includes('mk_')) out = out.replace(API_KEY, token('api_key'));
  if (f & F_AT) out = out.replace(EMAIL, token('email'));
  // Cards before SSNs and phones: a grouped card number contains shapes of both.
  if (f & F_NUMERIC_13) out = out.replace(CARD_CANDIDATE, cardReplacer);
  if (f & F_NUMERIC_9) {
    out = out.replace(SSN, (m: string, sep: string, offset: number, all: string) => (sep === ' ' && inNumberList(all, offset, m.length) ? m : token('ssn')));
  }
  if (f & F_NUMERIC && f & F_PLUS) out = out.replace(PHONE_INTL, phoneIntlReplacer);
  if (f & F_NUMERIC_9) {
    out = out.replace(PHONE_LOCAL, (m: string, _sep: string | undefined, offset: number, all: string) =>
      m.includes(' ') && !m.includes('(') && inNumberList(all, offset, m.length) ? m : token('phone'),
    );
  }
  return out;
}

const AUTH_HINT = /bearer|basic/i;

/**
 * UUIDs, hex trace ids, slugs: letters, digits and dashes, starting with a letter or with digits
 * cut by a letter. Nothing but a lone base64url JSON segment (`eyJ…`, checked apart) can match
 * in such a string (every other pattern needs `@`, `_`, `%`, `:`, `=`, a space, or digits that
 * start the string and end at a separator), and this anchored test is about twice as fast as the
 * feature scan on the ids that fill most log lines.
 */
const IDENTIFIER = /^\d*[A-Za-z][0-9A-Za-z-]*$/;

/**
 * Short strings that need nothing (tenant, workflow and step names, statuses, messages) repeat
 * line after line: a set lookup is cheaper than the scan. Bounded; only strings with no feature
 * at all are kept, so it never holds PII. Longer strings are mostly unique (ids), where caching
 * would only churn.
 */
const CLEAN_CACHE_MAX_LENGTH = 24;
const CLEAN_CACHE_SIZE = 4096;
const cleanCache = new Set<string>();
function rememberClean(s: string): void {
  if (cleanCache.size >= CLEAN_CACHE_SIZE) cleanCache.clear();
  cleanCache.add(s);
}

// Features of a string, found in one pass, that decide which patterns can match at all.
const F_LINE_BREAK = 1;
const F_AT = 2; // emails, connection strings
const F_COLON_EQ = 4; // key=value / key: value
const F_LETTER_B = 8; // `bea`/`bas`: Bearer, Basic
const F_EYJ = 16; // `eyJ`: JWTs, base64url JSON
const F_UNDERSCORE = 32; // mk_ keys
const F_PLUS = 64; // +44 …
const F_NUMERIC = 128; // a run of 8+ digits: an international phone number may hide in it
const F_NUMERIC_9 = 512; // 9+: also an SSN, a North American or trunk-prefixed number
const F_NUMERIC_13 = 1024; // 13+: also a card number

function digitRun(n: number): number {
  return n < 8 ? 0 : n < 9 ? F_NUMERIC : n < 13 ? F_NUMERIC | F_NUMERIC_9 : F_NUMERIC | F_NUMERIC_9 | F_NUMERIC_13;
}
const F_PERCENT = 256; // percent-escapes: scrubText decodes and looks again (and nothing is cached)

/**
 * One pass over the string (a few ns a character, against a regex scan per pattern). F_NUMERIC
 * (and _9, _13 by length) is set by a run of 8+ digits joined by at most three separators (` ().-`, line breaks) that
 * starts after a character none of the digit patterns may follow (not a letter, digit, `_`, `.`
 * or `-`: UUID groups and dotted versions never start one) and ends where a match may end (a run
 * cut by a letter, as in `2026-11-27T…`, counts only up to its last space or parenthesis). It is
 * a superset of what CARD_CANDIDATE, SSN, PHONE_INTL and PHONE_LOCAL can match.
 */
function features(s: string): number {
  let f = 0;
  let digits = -1; // digits since the run's first valid start; -1: no valid start yet
  let safe = 0; // digits up to the run's last boundary after which a match may end
  let seps = 0; // consecutive separators
  let startOk = true; // may a digit pattern start here (the previous character is not a word character, "." or "-")
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) {
      // Letters first: most characters are. A letter right after a digit means a match can only
      // end at an earlier boundary of the run.
      if (digits >= 0) {
        f |= digitRun(seps > 0 ? digits : safe);
        digits = -1;
      }
      if ((c | 0x20) === 98 && startsAuthScheme(s, i)) f |= F_LETTER_B;
      else if (c === 101 && s.charCodeAt(i + 1) === 121 && s.charCodeAt(i + 2) === 74) f |= F_EYJ;
      startOk = false;
    } else if (c >= 48 && c <= 57) {
      if (digits < 0 && startOk) {
        digits = 0;
        safe = 0;
      }
      if (digits >= 0) digits++;
      seps = 0;
      startOk = false;
    } else if (c === 32 || c === 40 || c === 41 || c === 45 || c === 46) {
      //           space      (          )          -          .
      if (digits >= 0) {
        if (++seps > 3) {
          f |= digitRun(digits); // a match may end at the run's last digit
          digits = -1;
        } else if (seps === 1 && c !== 45 && c !== 46) {
          safe = digits;
        }
      }
      startOk = c !== 45 && c !== 46;
    } else if (c === 10 || c === 13 || c === 0x85 || c === 0x2028 || c === 0x2029) {
      // Line breaks become spaces: a separator.
      f |= F_LINE_BREAK;
      if (digits >= 0) {
        if (++seps > 3) {
          f |= digitRun(digits);
          digits = -1;
        } else if (seps === 1) {
          safe = digits;
        }
      }
      startOk = true;
    } else {
      // Anything else ends the run; "_" is a word character, the rest are not.
      if (digits >= 0) {
        f |= digitRun(c === 95 && seps === 0 ? safe : digits);
        digits = -1;
      }
      seps = 0;
      if (c === 64) f |= F_AT;
      else if (c === 58 || c === 61) f |= F_COLON_EQ;
      else if (c === 95) f |= F_UNDERSCORE;
      else if (c === 43) f |= F_PLUS;
      else if (c === 37) f |= F_PERCENT;
      startOk = c !== 95;
    }
  }
  return f | digitRun(digits);
}

/** `bea…` or `bas…` in any case at `i` (hex ids hold many a `b`, few a `bea`, never a `bas`). */
function startsAuthScheme(s: string, i: number): boolean {
  const c1 = s.charCodeAt(i + 1) | 0x20;
  const c2 = s.charCodeAt(i + 2) | 0x20;
  return (c1 === 101 && c2 === 97) || (c1 === 97 && c2 === 115);
}

function keyValueReplacer(_m: string, key: string, sep: string, scheme: string | undefined): string {
  return `${key}${sep}${scheme ?? ''}${token(scheme ? (scheme.trimEnd().toLowerCase() as 'bearer' | 'basic') : 'secret')}`;
}

function authSchemeReplacer(m: string, scheme: string, space: string, value: string): string {
  if (scheme.toLowerCase() === 'bearer') {
    // "Bearer authentication failed" is prose; a token has a digit or punctuation (or is long).
    return /[0-9._~+/=-]/.test(value) || value.length >= 24 ? `${scheme}${space}${token('bearer')}` : m;
  }
  // Basic credentials are base64("user:password"): decode rather than guess from the shape,
  // so "basic validation" stays.
  if (value.length < 8 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return m;
  const decoded = Buffer.from(value, 'base64').toString('latin1');
  return decoded.includes(':') && /^[\x20-\x7e]+$/.test(decoded) ? `${scheme}${space}${token('basic')}` : m;
}

/**
 * A candidate is a run of digit groups; a card may be only part of it (`4111 1111 1111 1111 12/27`
 * is a card and an expiry month). Spans of whole groups of 3+ digits (cards are printed 4-4-4-4,
 * 4-6-5, 4-4-4-4-3) are tried, the shortest valid one from each start, so a list of small numbers
 * (`1 2 3 … 13`) is never a card.
 */
function cardReplacer(m: string): string {
  const parts = m.split(/([ -])/); // groups at even indices, separators at odd ones
  if (parts.length === 1) return isCardNumber(m) ? token('card') : m;
  let out = '';
  let changed = false;
  for (let i = 0; i < parts.length; i += 2) {
    let found = -1;
    let digits = '';
    for (let j = i; j < parts.length && parts[j].length >= 3 && digits.length < 19; j += 2) {
      digits += parts[j];
      if (isCardNumber(digits)) {
        found = j;
        break;
      }
    }
    const sep = (k: number) => (k + 1 < parts.length ? parts[k + 1] : '');
    if (found >= 0) {
      out += token('card') + sep(found);
      i = found;
      changed = true;
    } else {
      out += parts[i] + sep(i);
    }
  }
  return changed ? out : m;
}

/**
 * `100 200 400 800 1600`: a space-separated shape inside a list of numbers is a list, not a phone
 * number (or SSN). Looks one number either side of the match.
 */
function inNumberList(all: string, offset: number, length: number): boolean {
  const before = offset >= 2 && (all[offset - 1] === ' ' || all[offset - 1] === ',') && isDigit(all.charCodeAt(offset - 2));
  const end = offset + length;
  const after = end + 1 < all.length && (all[end] === ' ' || all[end] === ',') && isDigit(all.charCodeAt(end + 1));
  return before || after;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function phoneIntlReplacer(m: string): string {
  let digits = 0;
  for (let i = 0; i < m.length; i++) {
    const c = m.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  return digits >= 8 && digits <= 15 ? token('phone') : m;
}

/** True when `digits` passes the Luhn (mod 10) check. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/**
 * A payment card number: issuer prefix and length of a real network (Visa 13/16/19 from 4, Diners
 * 14 from 30/36/38/39, Amex 15 from 34/37, Mastercard 2221–2720/51–55, Maestro, Discover, JCB and
 * UnionPay 16–19), and Luhn-valid. The prefix rule is what keeps epoch-millisecond timestamps
 * (13 digits from 1) and `yyyyMMddHHmmss` stamps (14 digits from 20) out: about one random
 * number in ten passes Luhn alone.
 */
export function isCardNumber(digits: string): boolean {
  const n = digits.length;
  if (n < 13 || n > 19) return false;
  const ok = n === 13 ? digits[0] === '4' : n === 14 ? /^3[0689]/.test(digits) : n === 15 ? /^3[47]/.test(digits) : /^(?:2[2-7]|35|4|5[0-8]|6)/.test(digits);
  return ok && luhnValid(digits);
}
