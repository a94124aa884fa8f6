import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { signWebhook } from '../../src/domain/webhook-signature';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * `POST /hooks/:tenant/:name` (both modes, manual clock): a signed event starts runs (trigger
 * WEBHOOK); a wrong or missing signature, a revoked secret and an unknown tenant answer the same
 * 401; a stale timestamp 400; a body over MAX_INPUT_BYTES 413 (also streamed without a length,
 * answered before the body ends); a replayed event id starts nothing new; secrets rotate.
 */
const CREATE = `mutation($name: String) { createWebhookSecret(name: $name) { secret webhookSecret { id name prefix revokedAt } } }`;
const REVOKE = `mutation($id: ID!) { revokeWebhookSecret(id: $id) { id revokedAt } }`;
const LIST = `query { webhookSecrets { id name prefix revokedAt } }`;
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const RUN = `query($id: ID!) { run(id: $id) { id input trigger { kind eventName eventId } } }`;
const MAX_INPUT_BYTES = 4096;

interface Delivery {
  tenant?: string;
  name?: string;
  body?: string;
  secret?: string;
  /** Unix seconds; default the manual clock's now. */
  timestamp?: number;
  eventId?: string | null;
  signature?: string | null;
}

describe('webhooks', () => {
  let t: TestApp;
  let base = '';
  let secret = '';
  let secretId = '';
  const clock = new ManualClock(new Date('2026-11-30T06:00:00Z'));
  const nowSeconds = () => Math.floor(clock.now().getTime() / 1000);
  let seq = 0;

  const deliver = async (d: Delivery = {}) => {
    const body = d.body ?? JSON.stringify({ order: 'o-1', amount: 10 });
    const timestamp = String(d.timestamp ?? nowSeconds());
    const eventId = d.eventId === undefined ? `delivery-${++seq}` : d.eventId;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-maestro-timestamp': timestamp };
    if (eventId !== null) headers['x-maestro-event-id'] = eventId;
    const signature = d.signature === undefined ? `v1=${signWebhook(d.secret ?? secret, timestamp, eventId ?? '', body)}` : d.signature;
    if (signature !== null) headers['x-maestro-signature'] = signature;
    const res = await fetch(`${base}/hooks/${d.tenant ?? 'default'}/${d.name ?? 'shop.order'}`, { method: 'POST', headers, body });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { MAX_INPUT_BYTES: String(MAX_INPUT_BYTES) } });
    base = t.app.url.replace(/\/graphql$/, '');
    const created = (await t.ok(CREATE, { name: 'shop' })).createWebhookSecret;
    secret = created.secret;
    secretId = created.webhookSecret.id;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(created.webhookSecret).toMatchObject({ name: 'shop', prefix: secret.slice(0, 12), revokedAt: null });
    await t.ok(REGISTER, { input: { name: 'on-order', steps: [{ key: 'a', type: 'noop' }], on: [{ event: 'shop.order', filter: 'payload.amount > 0' }] } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('starts the matching workflows of a signed event, trigger WEBHOOK', async () => {
    const res = await deliver({ eventId: 'shop-1' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ eventId: 'shop-1', duplicate: false, refused: [] });
    expect(res.body.runs).toHaveLength(1);
    const run = (await t.ok(RUN, { id: res.body.runs[0].runId })).run;
    expect(run).toMatchObject({ input: { order: 'o-1', amount: 10 }, trigger: { kind: 'WEBHOOK', eventName: 'shop.order', eventId: 'shop-1' } });
  });

  it('answers an event no workflow listens to with no runs, and other methods with 405', async () => {
    const res = await deliver({ name: 'nobody.listens' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ duplicate: false, runs: [], refused: [] });
    const get = await fetch(`${base}/hooks/default/shop.order`);
    expect(get.status).toBe(405);
    expect(((await get.json()) as any).error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('answers a replayed event id as a duplicate with the first runs', async () => {
    const first = await deliver({ eventId: 'shop-replay' });
    const again = await deliver({ eventId: 'shop-replay' });
    expect(again.status).toBe(200);
    expect(again.body.duplicate).toBe(true);
    expect(again.body.runs).toEqual(first.body.runs);
  });

  it('refuses a wrong secret, a missing signature and an unknown tenant alike, with 401', async () => {
    const wrong = await deliver({ secret: 'whsec_not-the-secret' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'BAD_SIGNATURE' });
    const missing = await deliver({ signature: null });
    expect(missing).toEqual(wrong);
    const garbage = await deliver({ signature: 'v1=zz, v0=abc' });
    expect(garbage).toEqual(wrong);
    // Another tenant's path with this tenant's valid signature: the same answer, nothing tells whether it exists.
    const unknown = await deliver({ tenant: 'no-such-tenant' });
    expect(unknown).toEqual(wrong);
    const tooLongTenant = await deliver({ tenant: 'x'.repeat(200) });
    expect(tooLongTenant).toEqual(wrong);
  });

  it('refuses a signature over another event id (the id is signed)', async () => {
    const timestamp = String(nowSeconds());
    const body = '{"amount":1}';
    const signature = `v1=${signWebhook(secret, timestamp, 'id-a', body)}`;
    const res = await deliver({ eventId: 'id-b', body, timestamp: Number(timestamp), signature });
    expect(res.status).toBe(401);
  });

  it('refuses timestamps outside the replay window, either way', async () => {
    const window = 300; // WEBHOOK_REPLAY_WINDOW_MS default, in seconds
    for (const offset of [-(window + 1), window + 1]) {
      const res = await deliver({ timestamp: nowSeconds() + offset });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'BAD_REQUEST', reason: 'STALE_TIMESTAMP', windowMs: 300_000 });
    }
    expect((await deliver({ timestamp: nowSeconds() - (window - 10) })).status).toBe(200);
    // The clock moves on: a delivery signed now is stale 301 s later.
    const signedAt = nowSeconds();
    await clock.set(new Date(clock.now().getTime() + 301_000));
    expect((await deliver({ timestamp: signedAt })).body.error.reason).toBe('STALE_TIMESTAMP');
    expect((await deliver({ timestamp: 'soon' as unknown as number })).body.error.reason).toBe('MISSING_TIMESTAMP');
  });

  it('refuses a body over MAX_INPUT_BYTES with 413, from its length or while it streams', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(MAX_INPUT_BYTES) });
    const res = await deliver({ body: big });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', reason: 'BODY_TOO_LARGE', limit: 'MAX_INPUT_BYTES', max: MAX_INPUT_BYTES });

    // No Content-Length (chunked): counted while it streams; past the limit the rest is read and
    // dropped, not kept (body-parser's raw-body), and the answer is 413.
    const url = new URL(`${base}/hooks/default/shop.order`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 16; i++) req.write('x'.repeat(MAX_INPUT_BYTES));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('refuses a missing event id, a bad name and a body that is not JSON with 400', async () => {
    expect((await deliver({ eventId: null })).body.error).toMatchObject({ code: 'BAD_REQUEST', reason: 'MISSING_EVENT_ID' });
    expect((await deliver({ eventId: 'has space' })).body.error.reason).toBe('MISSING_EVENT_ID');
    const notJson = await deliver({ body: 'not json' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatchObject({ code: 'BAD_REQUEST', reason: 'INVALID_JSON' });
    const badName = await deliver({ name: '9-bad' });
    expect(badName.status).toBe(400);
    expect(badName.body.error.reason).toBe('INVALID_EVENT_NAME');
  });

  it('rotates: two secrets verify at once, a revoked one no longer', async () => {
    const second = (await t.ok(CREATE, { name: 'shop-next' })).createWebhookSecret;
    expect((await deliver({ secret: second.secret })).status).toBe(200);
    expect((await deliver({ secret })).status).toBe(200);
    // A sender may send both signatures while it switches.
    const timestamp = String(nowSeconds());
    const body = '{"amount":3}';
    const both = `v1=${signWebhook('whsec_old-and-gone', timestamp, 'rot-1', body)}, v1=${signWebhook(second.secret, timestamp, 'rot-1', body)}`;
    expect((await deliver({ body, timestamp: Number(timestamp), eventId: 'rot-1', signature: both })).status).toBe(200);
    expect((await t.ok(REVOKE, { id: secretId })).revokeWebhookSecret.revokedAt).not.toBeNull();
    expect((await deliver({ secret })).status).toBe(401);
    expect((await deliver({ secret: second.secret })).status).toBe(200);
    const listed = (await t.ok(LIST)).webhookSecrets as { id: string; revokedAt: string | null }[];
    expect(listed.map((s) => [s.id, s.revokedAt !== null])).toEqual(
      expect.arrayContaining([
        [secretId, true],
        [second.webhookSecret.id, false],
      ]),
    );
    const unknown = await t.gql(REVOKE, { id: '00000000-0000-4000-8000-000000000000' });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    secret = second.secret;
  });

  it('caps the secrets in use per tenant', async () => {
    let refused: any;
    for (let i = 0; i < 6 && !refused; i++) {
      const res = await t.gql(CREATE, { name: `extra-${i}` });
      refused = res.errors?.[0];
    }
    expect(refused?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_ACTIVE_WEBHOOK_SECRETS', max: 5 });
  });

  it('counts refusals by reason', async () => {
    const text = await t.scrape();
    const value = (reason: string) => Number(text.match(new RegExp(`^maestro_webhook_refusals_total\\{reason="${reason}"\\} (\\d+)`, 'm'))?.[1]);
    expect(value('bad_signature')).toBeGreaterThanOrEqual(6);
    expect(value('stale_timestamp')).toBeGreaterThanOrEqual(3);
    expect(value('too_large')).toBeGreaterThanOrEqual(2);
    expect(value('bad_request')).toBeGreaterThanOrEqual(4);
    expect(Number(text.match(/^maestro_events_received_total\{source="WEBHOOK",duplicate="true"\} (\d+)/m)?.[1])).toBeGreaterThanOrEqual(1);
    // Tenant and event names are in webhook paths: requests carry the one route label /hooks.
    expect(text).toMatch(/^http_requests_total\{[^}]*route="\/hooks"[^}]*status_code="401"[^}]*\} \d+/m);
    expect(text).not.toMatch(/route="\/hooks\/[^"]/);
  });
});

describe('webhooks under the tenant rate limit', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date('2026-11-30T06:00:00Z'));

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { RATE_LIMIT_PER_TENANT: '3' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('counts signed webhooks against the tenant rate, as API requests, and answers 429 with Retry-After', async () => {
    const secret = (await t.ok(CREATE)).createWebhookSecret.secret as string;
    const base = t.app.url.replace(/\/graphql$/, '');
    const timestamp = String(Math.floor(clock.now().getTime() / 1000));
    // 10 at once against 3 a second (fixed one-second windows): at most 6 fit even across a window edge.
    const answers = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const id = `rl-${i}`;
        const res = await fetch(`${base}/hooks/default/rl.evt`, {
          method: 'POST',
          headers: { 'x-maestro-timestamp': timestamp, 'x-maestro-event-id': id, 'x-maestro-signature': `v1=${signWebhook(secret, timestamp, id, '')}` },
        });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
      }),
    );
    const limited = answers.filter((a) => a.status === 429);
    console.log(`webhooks rate limited: ${limited.length} of 10 at RATE_LIMIT_PER_TENANT=3`);
    expect(limited.length).toBeGreaterThanOrEqual(4);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(limited[0]!.body.error).toMatchObject({ code: 'RATE_LIMITED', limit: 'RATE_LIMIT_PER_TENANT' });
    expect(Number(limited[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
  });
});

describe('events and webhooks stay within their tenant', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date('2026-11-30T06:00:00Z'));
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestApp({ clock });
    for (const tenant of ['tenant-a', 'tenant-b']) {
      keys[tenant] = (await t.app.services.auth.createKey(tenant)).key;
      await t.ok(REGISTER, { input: { name: 'same-name', steps: [{ key: 'a', type: 'noop' }], on: [{ event: 'shared.evt' }] } }, keys[tenant]);
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it("starts only the publishing tenant's workflows; the same id in another tenant is another event", async () => {
    const publish = (tenant: string) =>
      t.ok(`mutation { publishEvent(name: "shared.evt", id: "same-id") { duplicate runs { runId } } }`, {}, keys[tenant]).then((d) => d.publishEvent);
    const a = await publish('tenant-a');
    const b = await publish('tenant-b');
    expect([a.duplicate, b.duplicate]).toEqual([false, false]);
    expect(a.runs[0].runId).not.toBe(b.runs[0].runId);
    const runOf = (tenant: string, id: string) => t.ok(`query($id: ID!) { run(id: $id) { id } }`, { id }, keys[tenant]).then((d) => d.run);
    expect(await runOf('tenant-b', a.runs[0].runId)).toBeNull();
    // A tenant's secrets are not listed, revoked or accepted for another tenant.
    const secretA = (await t.ok(CREATE, {}, keys['tenant-a'])).createWebhookSecret;
    expect(await t.ok(LIST, {}, keys['tenant-b'])).toEqual({ webhookSecrets: [] });
    expect((await t.gql(REVOKE, { id: secretA.webhookSecret.id }, keys['tenant-b'])).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const timestamp = String(Math.floor(clock.now().getTime() / 1000));
    const send = (tenant: string) =>
      fetch(`${t.app.url.replace(/\/graphql$/, '')}/hooks/${tenant}/shared.evt`, {
        method: 'POST',
        headers: {
          'x-maestro-timestamp': timestamp,
          'x-maestro-event-id': 'hook-1',
          'x-maestro-signature': `v1=${signWebhook(secretA.secret, timestamp, 'hook-1', '')}`,
        },
      }).then((r) => r.status);
    expect(await send('tenant-b')).toBe(401);
    expect(await send('tenant-a')).toBe(200);
  });

  it('holds the cap of 5 secrets when creations race', async () => {
    const key = (await t.app.services.auth.createKey('tenant-race')).key;
    const results = await Promise.all(Array.from({ length: 10 }, () => t.gql(CREATE, {}, key)));
    expect(results.filter((r) => !r.errors)).toHaveLength(5);
    expect(results.filter((r) => r.errors?.[0]?.extensions?.code === 'LIMIT_EXCEEDED')).toHaveLength(5);
    expect((await t.ok(LIST, {}, key)).webhookSecrets).toHaveLength(5);
  });
});
