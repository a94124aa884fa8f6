/**
 * Lease tokens: what a claim hands a worker and every heartbeat and result must present.
 * `<fence>.<secret>`: the fencing number orders attempts (a result is accepted only under the
 * task's current one); the secret, 128 random bits in base64url, proves the caller was handed the
 * claim. Fence numbers are small and sequential, so without the secret any caller of the tenant
 * that knew a task id could complete another worker's task.
 *
 * Attempts claimed before tokens carried a secret have none stored: their bare fence is accepted,
 * and only for them.
 */
export interface LeaseToken {
  fence: string;
  /** null: a bare fence (an attempt claimed before secrets). */
  secret: string | null;
}

const TOKEN = /^(0|[1-9]\d{0,18})(?:\.([A-Za-z0-9_-]{22}))?$/;
const MAX_BIGINT = 2n ** 63n - 1n;

export function formatLeaseToken(fence: string, secret: string | null): string {
  return secret === null ? fence : `${fence}.${secret}`;
}

/** The token's parts, or null when it is not a token this API issues (the fence must fit a Postgres bigint). */
export function parseLeaseToken(token: string): LeaseToken | null {
  const m = TOKEN.exec(token);
  if (!m || BigInt(m[1]!) > MAX_BIGINT) return null;
  return { fence: m[1]!, secret: m[2] ?? null };
}

/** Whether a presented secret is the stored one (both null: an attempt from before secrets). */
export function secretMatches(stored: string | null, presented: string | null): boolean {
  if (stored === null || presented === null) return stored === presented;
  if (stored.length !== presented.length) return false;
  // Constant time over the length: no early exit on the first differing character.
  let diff = 0;
  for (let i = 0; i < stored.length; i++) diff |= stored.charCodeAt(i) ^ presented.charCodeAt(i);
  return diff === 0;
}
