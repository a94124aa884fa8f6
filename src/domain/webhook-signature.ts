/**
 * The webhook signature scheme (`POST /hooks/:tenant/:name`), pure:
 *
 * - `X-Maestro-Timestamp`: Unix time in seconds when the sender signed.
 * - `X-Maestro-Event-Id`: the event id (1 to 128 printable ASCII characters, no spaces), deduplicated like publishEvent's `id`.
 * - `X-Maestro-Signature`: `v1=<hex HMAC-SHA256>`, several comma-separated while a sender rotates secrets.
 *
 * Signed material: `<timestamp>` LF `<event id>` LF `<raw body bytes>`, keyed with the secret text
 * (`whsec_…`) as UTF-8. LF cannot occur in a timestamp or an id, so no two requests share their
 * material. The timestamp must be within the replay window of the receiver's clock, either way.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-maestro-signature';
export const TIMESTAMP_HEADER = 'x-maestro-timestamp';
export const EVENT_ID_HEADER = 'x-maestro-event-id';
const SCHEME = 'v1';
/** Signatures one header may carry at most (each is checked against each secret). */
export const MAX_SIGNATURES = 5;

/** The hex HMAC-SHA256 a sender puts after `v1=`. */
export function signWebhook(secret: string, timestamp: string, eventId: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}\n${eventId}\n`).update(body).digest('hex');
}

/** The `v1` signatures of a header as bytes; other schemes and malformed entries are ignored. */
export function parseSignatures(header: string | undefined): Buffer[] {
  if (!header) return [];
  const out: Buffer[] = [];
  for (const part of header.split(',').slice(0, MAX_SIGNATURES * 2)) {
    const [scheme, value] = part.trim().split('=', 2);
    if (scheme === SCHEME && value !== undefined && /^[0-9a-f]{64}$/i.test(value)) out.push(Buffer.from(value, 'hex'));
    if (out.length >= MAX_SIGNATURES) break;
  }
  return out;
}

/**
 * Whether any signature was made with any secret. Every pair is compared in constant time, and
 * with no secret (an unknown tenant) a throwaway one is computed, so the answer takes as long as
 * for a tenant whose secret does not match.
 */
export function verifyWebhook(secrets: readonly string[], signatures: readonly Buffer[], timestamp: string, eventId: string, body: Buffer): boolean {
  let ok = false;
  const keys = secrets.length > 0 ? secrets : ['whsec_no-such-tenant'];
  for (const secret of keys) {
    const expected = Buffer.from(signWebhook(secret, timestamp, eventId, body), 'hex');
    for (const sig of signatures) {
      // Non-short-circuiting: the time does not tell which pair matched.
      if (sig.length === expected.length && timingSafeEqual(sig, expected)) ok = secrets.length > 0 || ok;
    }
  }
  return ok;
}

/** Unix seconds of a timestamp header; null when it is not one. */
export function parseTimestamp(header: string | undefined): number | null {
  if (!header || !/^\d{1,12}$/.test(header)) return null;
  return Number(header);
}

/** Whether a signing time lies within `windowMs` of `now`, before or after. */
export function withinWindow(timestampSeconds: number, now: Date, windowMs: number): boolean {
  return Math.abs(now.getTime() - timestampSeconds * 1000) <= windowMs;
}
