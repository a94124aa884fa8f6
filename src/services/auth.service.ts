import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock';
import { ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError } from '../domain/errors';
import { isUuid } from '../domain/ids';
import { hasUnstorableChar } from '../domain/json-limits';
import { activeApiKeyIds, findActiveApiKey, findApiKey, insertApiKey, listApiKeys, revokeApiKey, type ApiKeyRow } from '../store/api-keys.store';
import type { Database } from '../store/sql';

export const API_KEY_PREFIX = 'mk_';
export const DEFAULT_TENANT = 'default';
const TENANT_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/**
 * A revoked key keeps working on a replica for at most this long when its revocation was not
 * announced (a revocation through the service or the CLI with REDIS_URL clears every replica's
 * cache at once).
 */
export const CACHE_TTL_MS = 10_000;
/**
 * An unknown key is refused from memory for this long: a client retrying a bad key in a loop costs
 * one database lookup per 5 s, not one per request (300 invalid-key requests were 300 lookups).
 */
export const NEGATIVE_TTL_MS = 5_000;
const CACHE_MAX = 10_000;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface Principal {
  tenantId: string;
  /** null when a development-mode request came without a key. */
  apiKeyId: string | null;
  /**
   * May manage the API keys of every tenant: a key minted with `admin`, or a development-mode
   * request without a key (development mode has no authentication at all).
   */
  admin: boolean;
}

const NAME_MAX = 128;

/**
 * API keys: 32 random bytes, shown once, stored as sha256 (they are high-entropy, so a slow
 * password hash would add latency to every request and no safety).
 */
export class AuthService {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private readonly unknown = new Map<string, number>();

  constructor(
    private readonly deps: {
      db: Database;
      clock: Clock;
      allowAnonymous: boolean;
      /** Tells every replica a key was revoked (the event bus). @default nothing beyond this process's cache */
      announceRevoked?: (apiKeyIds: readonly string[]) => Promise<void>;
    },
  ) {}

  /** Drops every cached credential (a key was revoked somewhere). */
  forgetCached(): void {
    this.cache.clear();
  }

  /** True when a request with this `Authorization` would be answered from memory, without a lookup. */
  isCached(authorization: string | null | undefined): boolean {
    const raw = authorization?.trim();
    if (!raw) return true;
    const hash = hashApiKey(raw.replace(/^Bearer\s+/i, ''));
    const now = this.deps.clock.now().getTime();
    return (this.cache.get(hash)?.until ?? 0) > now || (this.unknown.get(hash) ?? 0) > now;
  }

  /** Which of these key ids are still active (open sockets are re-checked with it). */
  async stillActive(apiKeyIds: readonly string[]): Promise<Set<string>> {
    return activeApiKeyIds(this.deps.db, apiKeyIds);
  }

  async createKey(tenantId: string, name: string | null = null, opts: { admin?: boolean } = {}): Promise<{ key: string; row: ApiKeyRow }> {
    if (!TENANT_PATTERN.test(tenantId)) {
      throw new ValidationError('tenant must be 1 to 128 letters, digits, ".", "_" or "-"', { field: 'tenant' });
    }
    if (name !== null && (name.length < 1 || name.length > NAME_MAX || hasUnstorableChar(name))) {
      throw new ValidationError(`name must be 1 to ${NAME_MAX} characters of well-formed text (no NUL characters)`, { field: 'name' });
    }
    const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const row = await insertApiKey(this.deps.db, { tenantId, name, keyHash: hashApiKey(key), prefix: key.slice(0, 10), admin: opts.admin ?? false });
    return { key, row };
  }

  /** Refuses a principal that may not manage API keys (FORBIDDEN, saying how to get an admin key). */
  requireAdmin(principal: Principal): void {
    if (principal.admin) return;
    throw new ForbiddenError(
      'Managing API keys needs an admin key: mint one with `npm run apikey -- create --tenant <t> --admin` (direct database access), then send it as the API key',
      { reason: 'ADMIN_REQUIRED' },
    );
  }

  /**
   * The key with this id, checked to be one: BAD_USER_INPUT when `id` is not a key id (a UUID),
   * NOT_FOUND when no key has it.
   */
  async getKey(id: string): Promise<ApiKeyRow> {
    if (!isUuid(id)) {
      throw new ValidationError(`${JSON.stringify(id.slice(0, 64))} is not a key id: key ids are UUIDs, as \`apikey list\` shows them`, {
        field: 'id',
        reason: 'NOT_A_KEY_ID',
      });
    }
    const row = await findApiKey(this.deps.db, id);
    if (!row) throw new NotFoundError('API key', id);
    return row;
  }

  async listKeys(tenantId: string | null): Promise<ApiKeyRow[]> {
    return listApiKeys(this.deps.db, tenantId);
  }

  /** Revokes a key; every replica drops it from its cache and closes its open WebSockets within moments. */
  async revokeKey(id: string): Promise<boolean> {
    await this.getKey(id);
    this.cache.clear();
    const revoked = await revokeApiKey(this.deps.db, id, this.deps.clock.now());
    if (revoked) await this.deps.announceRevoked?.([id]);
    return revoked;
  }

  /**
   * The principal of a request from its `Authorization` value (`Bearer <key>` or the bare key,
   * as graphql-ws clients often send it). Without one: tenant `default` in development,
   * UNAUTHENTICATED in production.
   */
  async authenticate(authorization: string | null | undefined): Promise<Principal> {
    const raw = authorization?.trim();
    if (!raw) {
      if (this.deps.allowAnonymous) return { tenantId: DEFAULT_TENANT, apiKeyId: null, admin: true };
      throw new UnauthenticatedError('An API key is required: send "Authorization: Bearer <key>" (mint one with `npm run apikey -- create --tenant <t>`)');
    }
    const key = raw.replace(/^Bearer\s+/i, '');
    const hash = hashApiKey(key);
    const now = this.deps.clock.now().getTime();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;
    if ((this.unknown.get(hash) ?? 0) > now) throw new UnauthenticatedError('The API key is not valid or was revoked');
    const row = await findActiveApiKey(this.deps.db, hash);
    if (!row) {
      if (this.unknown.size >= CACHE_MAX) this.unknown.clear();
      this.unknown.set(hash, now + NEGATIVE_TTL_MS);
      throw new UnauthenticatedError('The API key is not valid or was revoked');
    }
    this.unknown.delete(hash);
    const principal = { tenantId: row.tenantId, apiKeyId: row.id, admin: row.admin };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { principal, until: now + CACHE_TTL_MS });
    return principal;
  }
}
