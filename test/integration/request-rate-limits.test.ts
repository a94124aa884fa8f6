/**
 * Request rate limits against a real Redis: a window a caller spent is refused by the replica
 * that saw it spent, without asking Redis again until the window ends. A flooder that ignores
 * Retry-After (bench scenario 7: ~240 refused requests a second) cost three Redis round trips a
 * request before; every replica still counts in the same Redis buckets.
 */
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Gatekeeper } from '../../src/access/gatekeeper';
import { RateLimits } from '../../src/access/rate-limits';
import { RateLimitedError } from '../../src/domain/errors';
import { deleteRedisPrefix } from '../helpers/redis';
import { REAL_REDIS } from '../helpers/db';

describe.runIf(REAL_REDIS)('request rate limits on Redis', () => {
  const redisUrl = process.env['REDIS_URL']!;
  const redisKeyPrefix = `maestro-test-${randomUUID()}:`;
  const opened: RateLimits[] = [];

  afterAll(async () => {
    for (const r of opened) await r.close();
    await deleteRedisPrefix(redisUrl, redisKeyPrefix);
  });

  /** A replica's limits, a count of the commands it sends to Redis, and a gate holding them back while `held` is set. */
  async function replica(opts: { perKey?: number; perTenant?: number; costPerTenant?: number; maxOperationCost?: number }) {
    const rates = await RateLimits.create({ perKey: 0, perTenant: 0, authFailuresPerIp: 0, redisUrl, redisKeyPrefix, ...opts });
    opened.push(rates);
    const redis = (rates as unknown as { redis: Redis }).redis;
    const sent = { commands: 0 };
    const gate: { held: { go: () => void; answered: Promise<unknown> }[] | null } = { held: null };
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
      sent.commands++;
      if (!gate.held) return send(...args);
      gate.held.push({ go: () => void send(...args), answered: args[0].promise.catch(() => undefined) });
      return args[0].promise;
    }) as Redis['sendCommand'];
    return { rates, sent, gate };
  }

  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: unknown) => e as RateLimitedError,
    );

  it('a key over its requests a second is refused without a Redis round trip until its window ends', async () => {
    const a = await replica({ perKey: 5 });
    const principal = { tenantId: 't-keys', apiKeyId: randomUUID() };
    for (let i = 0; i < 5; i++) await a.rates.consume(principal);
    const before = a.sent.commands;
    const refused = await Promise.all(Array.from({ length: 50 }, () => refusal(a.rates.consume(principal))));
    console.log(`[request-rate-limits] 50 requests over a spent key: ${a.sent.commands - before} Redis commands`);
    for (const e of refused) {
      expect(e).toBeInstanceOf(RateLimitedError);
      expect(e!.data).toMatchObject({ limit: 'RATE_LIMIT_PER_KEY', max: 5 });
      expect((e!.data as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect((e!.data as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(1000);
    }
    expect(a.sent.commands - before).toBe(0);

    // Another replica counts in the same bucket: refused there too (after asking Redis once).
    const b = await replica({ perKey: 5 });
    expect(await refusal(b.rates.consume(principal))).toBeInstanceOf(RateLimitedError);
    expect(b.sent.commands).toBeGreaterThan(0);
    // Another key of the same tenant has its own window.
    await a.rates.consume({ tenantId: 't-keys', apiKeyId: randomUUID() });
  });

  it("a request's key and tenant are counted at once: one round trip, not two one after the other", async () => {
    const a = await replica({ perKey: 100, perTenant: 100 });
    const principal = { tenantId: 't-parallel', apiKeyId: randomUUID() };
    await a.rates.consume(principal);
    const before = a.sent.commands;
    const counted = a.rates.consume(principal);
    // Both commands are on their way before either answer is read.
    console.log(`[request-rate-limits] one request: ${a.sent.commands - before} Redis commands sent at once`);
    expect(a.sent.commands - before).toBe(2);
    await counted;
  });

  it("a key over its rate does not spend its tenant's: the tenant's point is given back, and the next refusals ask nothing", async () => {
    // The key spends its rate on one replica; on another, which has not seen it spent, its next
    // request takes the tenant's last point and gives it back when the key refuses it.
    const a = await replica({ perKey: 3, perTenant: 4 });
    const b = await replica({ perKey: 3, perTenant: 4 });
    const noisy = { tenantId: 't-shared', apiKeyId: randomUUID() };
    for (let i = 0; i < 3; i++) await b.rates.consume(noisy);
    const refused = await refusal(a.rates.consume(noisy));
    expect(refused?.data).toMatchObject({ limit: 'RATE_LIMIT_PER_KEY', max: 3 });
    const before = a.sent.commands;
    for (let i = 0; i < 20; i++) expect(await refusal(a.rates.consume(noisy))).toBeInstanceOf(RateLimitedError);
    expect(a.sent.commands - before).toBe(0);
    // The tenant counted 3 (the refused request's point came back): another key has 1 left, on
    // the replica that gave it back too.
    const other = { tenantId: 't-shared', apiKeyId: randomUUID() };
    await a.rates.consume(other);
    expect((await refusal(a.rates.consume(other)))?.data).toMatchObject({ limit: 'RATE_LIMIT_PER_TENANT', max: 4 });
  });

  it("a tenant's spent cost window is refused without a Redis round trip; charging still counts in Redis", async () => {
    const a = await replica({ perKey: 1000, costPerTenant: 1000 });
    await a.rates.checkCost('t-cost');
    await a.rates.chargeCost('t-cost', 1500);
    const first = await refusal(a.rates.checkCost('t-cost'));
    expect(first).toBeInstanceOf(RateLimitedError);
    const before = a.sent.commands;
    const refused = await Promise.all(Array.from({ length: 50 }, () => refusal(a.rates.checkCost('t-cost'))));
    console.log(`[request-rate-limits] 50 cost checks over a spent window: ${a.sent.commands - before} Redis commands`);
    for (const e of refused) expect(e!.data).toMatchObject({ limit: 'RATE_LIMIT_COST_PER_TENANT', max: 1000 });
    expect(a.sent.commands - before).toBe(0);
    // A request's admission (its count and this look, at once) counts nothing either: refused first.
    const gatekeeper = new Gatekeeper({ auth: null as never, rates: a.rates, log: null as never });
    const admitted = await Promise.all(
      Array.from({ length: 50 }, () => refusal(gatekeeper.admitRequest({ tenantId: 't-cost', apiKeyId: randomUUID(), admin: false }))),
    );
    console.log(`[request-rate-limits] 50 requests admitted over a spent cost window: ${a.sent.commands - before} Redis commands`);
    for (const e of admitted) expect(e!.data).toMatchObject({ limit: 'RATE_LIMIT_COST_PER_TENANT' });
    expect(a.sent.commands - before).toBe(0);
    // The retry shrinks with the window: never longer than the first refusal said.
    const firstRetry = (first!.data as { retryAfterMs: number }).retryAfterMs;
    for (const e of refused) expect((e!.data as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(firstRetry);
    // A charge is refused here too: this replica's own charge left nothing in the window.
    expect(await refusal(a.rates.chargeCost('t-cost', 10))).toBeInstanceOf(RateLimitedError);
    expect(a.sent.commands - before).toBe(0);
    // Another replica that charged nothing asks Redis, and is refused by what a spent.
    const b = await replica({ costPerTenant: 1000 });
    expect(await refusal(b.rates.chargeCost('t-cost', 10))).toBeInstanceOf(RateLimitedError);
    expect(b.sent.commands).toBeGreaterThan(0);
    // Another tenant is not held by it.
    await a.rates.checkCost('t-other');
  });

  it('an operation that fits with half a window to spare does not wait for Redis; its points still reach it', async () => {
    // 1,000 points a second, operations of up to 20,000: 20 s windows (a slow machine stays in one).
    const a = await replica({ costPerTenant: 1000, maxOperationCost: 20_000 });
    await a.rates.chargeCost('t-bg', 10);
    // What is left is known (19,990): the next small charge answers with its Redis command held back.
    a.gate.held = [];
    await a.rates.chargeCost('t-bg', 10);
    const held = a.gate.held;
    a.gate.held = null;
    expect(held).toHaveLength(1);
    for (const h of held) h.go();
    await Promise.all(held.map((h) => h.answered));
    // Redis counted both: another replica finds 19,980 left.
    const b = await replica({ costPerTenant: 1000, maxOperationCost: 20_000 });
    await b.rates.chargeCost('t-bg', 19_970);
    expect((await refusal(b.rates.chargeCost('t-bg', 20)))?.data).toMatchObject({ limit: 'RATE_LIMIT_COST_PER_TENANT', left: 10 });
    // The first replica still believes 19,980 are left: its next small charge goes through in the
    // background, Redis refuses it, and the operation (it ran) keeps its points; what is left is
    // remembered, and the next operations are refused here without asking Redis.
    a.gate.held = [];
    await a.rates.chargeCost('t-bg', 20);
    const refusedLater = a.gate.held;
    a.gate.held = null;
    for (const h of refusedLater) h.go();
    await Promise.all(refusedLater.map((h) => h.answered));
    await new Promise((r) => setImmediate(r));
    const before = a.sent.commands;
    expect((await refusal(a.rates.chargeCost('t-bg', 5)))?.data).toMatchObject({ limit: 'RATE_LIMIT_COST_PER_TENANT', left: 0 });
    expect(a.sent.commands - before).toBe(0);
  });

  it('an operation too costly for the rest of the window takes nothing, and is refused again without Redis; a smaller one fits', async () => {
    const a = await replica({ costPerTenant: 1000 });
    await a.rates.chargeCost('t-fit', 700);
    const first = await refusal(a.rates.chargeCost('t-fit', 700));
    expect(first?.data).toMatchObject({ limit: 'RATE_LIMIT_COST_PER_TENANT', cost: 700, left: 300 });
    const before = a.sent.commands;
    const again = await Promise.all(Array.from({ length: 50 }, () => refusal(a.rates.chargeCost('t-fit', 700))));
    console.log(`[request-rate-limits] 50 charges too costly for the rest of the window: ${a.sent.commands - before} Redis commands`);
    for (const e of again) expect(e?.data).toMatchObject({ cost: 700, left: 300 });
    expect(a.sent.commands - before).toBe(0);
    // Nothing was taken: another replica fits 300 more, then the window is spent there.
    const b = await replica({ costPerTenant: 1000 });
    await b.rates.chargeCost('t-fit', 300);
    expect(await refusal(b.rates.checkCost('t-fit'))).toBeInstanceOf(RateLimitedError);
    // The first replica still knows 300 left: its look before a request is read lets one through
    // without Redis, and that request's charge asks Redis and is refused; then it knows.
    const looked = a.sent.commands;
    expect(await refusal(a.rates.checkCost('t-fit'))).toBeNull();
    expect(a.sent.commands).toBe(looked);
    expect((await refusal(a.rates.chargeCost('t-fit', 10)))?.data).toMatchObject({ cost: 10, left: 0 });
    expect(await refusal(a.rates.checkCost('t-fit'))).toBeInstanceOf(RateLimitedError);
  });

  it('a replica that charged a tenant in this window looks at its budget without Redis while points are left', async () => {
    const a = await replica({ costPerTenant: 1000 });
    await a.rates.chargeCost('t-room', 100);
    const before = a.sent.commands;
    for (let i = 0; i < 20; i++) await a.rates.checkCost('t-room');
    console.log(`[request-rate-limits] 20 looks at a budget this replica charged: ${a.sent.commands - before} Redis commands`);
    expect(a.sent.commands - before).toBe(0);
    // Charges still count in Redis, and the window's end is the replica's too: 900 fit, then none.
    await a.rates.chargeCost('t-room', 900);
    expect(a.sent.commands - before).toBeGreaterThan(0);
    expect(await refusal(a.rates.checkCost('t-room'))).toBeInstanceOf(RateLimitedError);
  });
});
