import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock';
import { UnauthenticatedError, ValidationError } from '../domain/errors';
import { findActiveApiKey, insertApiKey, listApiKeys, revokeApiKey, type ApiKeyRow } from '../store/api-keys.store';
import type { Database } from '../store/sql';

export const API_KEY_PREFIX = 'mk_';
export const DEFAULT_TENANT = 'default';
const TENANT_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** A revoked key keeps working on a replica for at most this long. */
const CACHE_TTL_MS = 10_000;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface Principal {
  tenantId: string;
  /** null when a development-mode request came without a key. */
  apiKeyId: string | null;
}

/**
 * API keys: 32 random bytes, shown once, stored as sha256 (they are high-entropy, so a slow
 * password hash would add latency to every request and no safety).
 */
export class AuthService {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();

  constructor(private readonly deps: { db: Database; clock: Clock; allowAnonymous: boolean }) {}

  async createKey(tenantId: string, name: string | null = null): Promise<{ key: string; row: ApiKeyRow }> {
    if (!TENANT_PATTERN.test(tenantId)) {
      throw new ValidationError('tenant must be 1 to 128 letters, digits, ".", "_" or "-"', { field: 'tenant' });
    }
    const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const row = await insertApiKey(this.deps.db, { tenantId, name, keyHash: hashApiKey(key), prefix: key.slice(0, 10) });
    return { key, row };
  }

  async listKeys(tenantId: string | null): Promise<ApiKeyRow[]> {
    return listApiKeys(this.deps.db, tenantId);
  }

  async revokeKey(id: string): Promise<boolean> {
    this.cache.clear();
    return revokeApiKey(this.deps.db, id, this.deps.clock.now());
  }

  /**
   * The principal of a request from its `Authorization` value (`Bearer <key>` or the bare key,
   * as graphql-ws clients often send it). Without one: tenant `default` in development,
   * UNAUTHENTICATED in production.
   */
  async authenticate(authorization: string | null | undefined): Promise<Principal> {
    const raw = authorization?.trim();
    if (!raw) {
      if (this.deps.allowAnonymous) return { tenantId: DEFAULT_TENANT, apiKeyId: null };
      throw new UnauthenticatedError('An API key is required: send "Authorization: Bearer <key>" (mint one with `npm run apikey -- create --tenant <t>`)');
    }
    const key = raw.replace(/^Bearer\s+/i, '');
    const hash = hashApiKey(key);
    const now = this.deps.clock.now().getTime();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const row = await findActiveApiKey(this.deps.db, hash);
    if (!row) throw new UnauthenticatedError('The API key is not valid or was revoked');
    const principal = { tenantId: row.tenantId, apiKeyId: row.id };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { principal, until: now + CACHE_TTL_MS });
    return principal;
  }
}
