import { randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock';
import { LimitExceededError, NotFoundError, ValidationError } from '../domain/errors';
import { isUuid } from '../domain/ids';
import { checkWellFormed } from '../domain/json-limits';
import type { Database } from '../store/sql';
import { activeWebhookSecrets, insertWebhookSecret, listWebhookSecrets, revokeWebhookSecret, type WebhookSecretRecord } from '../store/webhook-secrets.store';

/** Unrevoked webhook secrets per tenant at most: enough to rotate (old and new valid at once), few enough to try each. */
export const MAX_ACTIVE_WEBHOOK_SECRETS = 5;
/** Secrets listed at most (newest first). */
const LIST_MAX = 100;
const SECRET_PREFIX = 'whsec_';

/**
 * Per-tenant secrets that sign webhooks (`POST /hooks/:tenant/:name`): minted here, shown once,
 * revoked by id. Several may be valid at once, so a sender can switch to a new one before the old
 * one is revoked.
 */
export class WebhookSecretsService {
  constructor(private readonly deps: { db: Database; clock: Clock }) {}

  /** Mints a secret: `whsec_` and 32 random bytes (base64url). LIMIT_EXCEEDED beyond MAX_ACTIVE_WEBHOOK_SECRETS unrevoked ones. */
  async create(tenantId: string, name: string | null): Promise<{ secret: string; record: WebhookSecretRecord }> {
    if (name !== null && (name.length === 0 || name.length > 128)) {
      throw new ValidationError('The webhook secret name must be 1 to 128 characters long', { field: 'name' });
    }
    checkWellFormed('name', name);
    const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
    const prefix = secret.slice(0, 12);
    const result = await this.deps.db.transaction((sql) =>
      insertWebhookSecret(sql, { tenantId, name, secret, prefix, createdAt: this.deps.clock.now() }, MAX_ACTIVE_WEBHOOK_SECRETS),
    );
    if (!result.row) {
      throw new LimitExceededError(
        `The tenant already has ${result.active} webhook secrets in use (at most ${MAX_ACTIVE_WEBHOOK_SECRETS}); revoke one with revokeWebhookSecret first`,
        { limit: 'MAX_ACTIVE_WEBHOOK_SECRETS', max: MAX_ACTIVE_WEBHOOK_SECRETS, actual: result.active },
      );
    }
    return { secret, record: result.row };
  }

  list(tenantId: string): Promise<WebhookSecretRecord[]> {
    return listWebhookSecrets(this.deps.db, tenantId, LIST_MAX);
  }

  async revoke(tenantId: string, id: string): Promise<WebhookSecretRecord> {
    const row = isUuid(id) ? await revokeWebhookSecret(this.deps.db, tenantId, id, this.deps.clock.now()) : undefined;
    if (!row) throw new NotFoundError('WebhookSecret', id);
    return row;
  }

  /** The secrets that verify the tenant's webhooks now (none: an unknown tenant looks the same). */
  active(tenantId: string): Promise<string[]> {
    return activeWebhookSecrets(this.deps.db, tenantId);
  }
}
