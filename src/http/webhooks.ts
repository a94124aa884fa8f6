import express, { type ErrorRequestHandler, type Request, type Response, type Router } from 'express';
import type { Gatekeeper } from '../access/gatekeeper';
import type { RateLimits } from '../access/rate-limits';
import type { Clock } from '../domain/clock';
import { coerceError, type DomainError } from '../domain/errors';
import type { Json } from '../domain/glossary';
import { EVENT_ID_PATTERN, EVENT_NAME_PATTERN } from '../domain/triggers';
import { EVENT_ID_HEADER, parseSignatures, parseTimestamp, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook, withinWindow } from '../domain/webhook-signature';
import { domainErrorOf, httpStatusOf } from '../graphql/errors';
import type { Logger } from '../observability/logger';
import type { EventsService } from '../services/events.service';
import type { WebhookSecretsService } from '../services/webhook-secrets.service';

export const WEBHOOK_PATH = '/hooks/:tenant/:name';

/** Why a webhook was refused (the `reason` label of maestro_webhook_refusals_total). */
export const WEBHOOK_REFUSALS = ['bad_signature', 'stale_timestamp', 'bad_request', 'too_large', 'rate_limited', 'rejected'] as const;
export type WebhookRefusal = (typeof WEBHOOK_REFUSALS)[number];

export interface WebhookOptions {
  events: EventsService;
  secrets: WebhookSecretsService;
  gatekeeper: Gatekeeper;
  rates: RateLimits;
  clock: Clock;
  log: Logger;
  /** Largest body, bytes (MAX_INPUT_BYTES: the body is the payload). */
  maxBodyBytes: number;
  /** How far a signature's timestamp may be from now, either way (WEBHOOK_REPLAY_WINDOW_MS). */
  replayWindowMs: number;
  onRefused?: (reason: WebhookRefusal) => void;
}

/**
 * `POST /hooks/:tenant/:name`: a signed event from an outside system (scheme: domain/webhook-signature.ts).
 * In order: an address that failed too often is refused unread (429); a body over the limit is
 * refused from its Content-Length, or as soon as it grows past it (413, never buffered whole); the
 * timestamp and event id headers are checked (400; a stale timestamp 400 STALE_TIMESTAMP); the
 * signature against every unrevoked secret of the tenant (401, the same for an unknown tenant:
 * nothing tells which tenants exist); the tenant's request rate (429); the JSON body (400); then
 * the event is published as by publishEvent, with trigger WEBHOOK. Every answer is JSON.
 */
export function webhookRouter(opts: WebhookOptions): Router {
  const router = express.Router();
  const refuse = (res: Response, status: number, reason: WebhookRefusal, error: { code: string; message: string } & Record<string, unknown>) => {
    opts.onRefused?.(reason);
    res.status(status).type('application/json').send(JSON.stringify({ error }));
  };

  const ipCheck = async (req: Request, res: Response, next: () => void) => {
    try {
      await opts.rates.checkIp(opts.gatekeeper.clientIp(req));
      next();
    } catch (e: unknown) {
      sendError(res, e, opts, 'rate_limited', refuse);
    }
  };
  const raw = express.raw({ type: () => true, limit: opts.maxBodyBytes, inflate: false });

  router.post(WEBHOOK_PATH, ipCheck, raw, (req: Request, res: Response) => {
    void (async () => {
      const tenant = String(req.params['tenant']);
      const name = String(req.params['name']);
      const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const timestamp = req.header(TIMESTAMP_HEADER);
      const seconds = parseTimestamp(timestamp);
      if (seconds === null) {
        return refuse(res, 400, 'bad_request', {
          code: 'BAD_REQUEST',
          reason: 'MISSING_TIMESTAMP',
          message: `Send the signing time as ${TIMESTAMP_HEADER}: Unix seconds`,
        });
      }
      if (!withinWindow(seconds, opts.clock.now(), opts.replayWindowMs)) {
        return refuse(res, 400, 'stale_timestamp', {
          code: 'BAD_REQUEST',
          reason: 'STALE_TIMESTAMP',
          message: `${TIMESTAMP_HEADER} is more than ${opts.replayWindowMs} ms from the receiver's clock (WEBHOOK_REPLAY_WINDOW_MS): sign each delivery when sending it, and keep clocks in sync`,
          windowMs: opts.replayWindowMs,
        });
      }
      const eventId = req.header(EVENT_ID_HEADER);
      if (!eventId || !EVENT_ID_PATTERN.test(eventId)) {
        return refuse(res, 400, 'bad_request', {
          code: 'BAD_REQUEST',
          reason: 'MISSING_EVENT_ID',
          message: `Send ${EVENT_ID_HEADER}: 1 to 128 printable ASCII characters without spaces, the same for every retry of one delivery`,
        });
      }
      const secrets = tenant.length <= 128 ? await opts.secrets.active(tenant) : [];
      if (!verifyWebhook(secrets, parseSignatures(req.header(SIGNATURE_HEADER)), timestamp!, eventId, body)) {
        const ip = opts.gatekeeper.clientIp(req);
        await opts.rates.authFailed(ip);
        opts.log.warn({ ip, transport: 'webhook' }, 'webhook signature refused');
        return refuse(res, 401, 'bad_signature', {
          code: 'UNAUTHENTICATED',
          reason: 'BAD_SIGNATURE',
          message: `${SIGNATURE_HEADER} is missing or matches no webhook secret of this tenant: sign "<timestamp>\\n<event id>\\n<body>" with HMAC-SHA256 and send v1=<hex>`,
        });
      }
      await opts.gatekeeper.consume({ tenantId: tenant, apiKeyId: null, admin: false });
      if (!EVENT_NAME_PATTERN.test(name)) {
        return refuse(res, 400, 'bad_request', {
          code: 'BAD_USER_INPUT',
          reason: 'INVALID_EVENT_NAME',
          message: 'The event name (the last path segment) must be 1 to 128 letters, digits, "_", ".", ":" or "-", starting with a letter',
        });
      }
      let payload: Json = null;
      if (body.length > 0) {
        try {
          payload = JSON.parse(body.toString('utf8')) as Json;
        } catch {
          return refuse(res, 400, 'bad_request', {
            code: 'BAD_REQUEST',
            reason: 'INVALID_JSON',
            message: 'The body must be JSON (the event payload), or empty',
          });
        }
      }
      const receipt = await opts.events.publish(tenant, { name, payload, id: eventId }, 'WEBHOOK');
      res.status(200).json(receipt);
    })().catch((e: unknown) => sendError(res, e, opts, 'rejected', refuse));
  });

  const bodyErrors: ErrorRequestHandler = (err: unknown, _req, res, next) => {
    if (res.headersSent) return next(err);
    const e = (typeof err === 'object' && err !== null ? err : {}) as { type?: string; status?: number; limit?: number; length?: number };
    if (e.type === 'entity.too.large') {
      return refuse(res, 413, 'too_large', {
        code: 'LIMIT_EXCEEDED',
        reason: 'BODY_TOO_LARGE',
        limit: 'MAX_INPUT_BYTES',
        max: opts.maxBodyBytes,
        message: `The body is larger than ${opts.maxBodyBytes} bytes (MAX_INPUT_BYTES): send a smaller payload`,
      });
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return refuse(res, e.status, 'bad_request', {
        code: 'BAD_REQUEST',
        reason: 'UNREADABLE_BODY',
        message: `The body cannot be read (${e.type ?? 'bad request'}): send it unencoded (no Content-Encoding)`,
      });
    }
    sendError(res, err, opts, 'rejected', refuse);
  };
  router.use(WEBHOOK_PATH, bodyErrors);
  // Only POST: anything else answers JSON too, not Express's HTML page.
  router.all(WEBHOOK_PATH, (req, res, next) => {
    if (req.method === 'POST') return next();
    res
      .status(405)
      .set('allow', 'POST')
      .json({ error: { code: 'METHOD_NOT_ALLOWED', message: 'Send webhooks with POST' } });
  });
  return router;
}

function sendError(
  res: Response,
  e: unknown,
  opts: WebhookOptions,
  reason: WebhookRefusal,
  refuse: (res: Response, status: number, reason: WebhookRefusal, error: { code: string; message: string } & Record<string, unknown>) => void,
): void {
  if (res.headersSent) return;
  const domain: DomainError | null = domainErrorOf(e);
  if (!domain) {
    opts.log.error({ err: coerceError(e) }, 'unexpected error in a webhook');
    res.status(500).json({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' } });
    return;
  }
  const retryAfterMs = domain.data['retryAfterMs'];
  if (typeof retryAfterMs === 'number') res.setHeader('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  refuse(res, httpStatusOf(domain), domain.code === 'RATE_LIMITED' ? 'rate_limited' : reason, { ...domain.data, code: domain.code, message: domain.message });
}
