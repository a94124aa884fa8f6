import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { RateLimits } from '../../src/access/rate-limits';
import { RateLimitedError } from '../../src/domain/errors';
import { costChargePlugin } from '../../src/graphql/cost-charge';
import { buildMaestroSchema } from '../../src/graphql/schema';
import { KeyedSlots } from '../../src/primitives/keyed-slots';

describe('KeyedSlots with weights', () => {
  it('admits weights up to the capacity, and one larger weight only while the key holds nothing', () => {
    const slots = new KeyedSlots(100);
    const a = slots.tryAcquire('t', 60)!;
    expect(slots.tryAcquire('t', 50)).toBeNull();
    const b = slots.tryAcquire('t', 40)!;
    expect(slots.count('t')).toBe(100);
    expect(slots.tryAcquire('other', 100)).not.toBeNull();
    a();
    a(); // twice: harmless
    expect(slots.count('t')).toBe(40);
    b();
    expect(slots.count('t')).toBe(0);
    const huge = slots.tryAcquire('t', 500)!;
    expect(huge).not.toBeNull();
    expect(slots.tryAcquire('t', 1)).toBeNull();
    huge();
    expect(slots.tryAcquire('t')).not.toBeNull();
    expect(new KeyedSlots(0).tryAcquire('t', 1)).toBeNull();
  });
});

describe('RateLimits cost budget (in memory)', () => {
  it('a window long enough for one operation of the largest cost; admitted until spent, then refused with its retry', async () => {
    // 1,000 a second, operations of up to 2,500: 3 s windows of 3,000 points.
    const rates = await RateLimits.create({ perKey: 0, perTenant: 0, authFailuresPerIp: 0, costPerTenant: 1000, maxOperationCost: 2500 });
    await rates.checkCost('a');
    await rates.chargeCost('a', 2500);
    await rates.checkCost('a');
    // 500 left: an operation of 2,500 does not fit and takes nothing; smaller ones still do.
    const tooCostly = await rates.chargeCost('a', 2500).catch((e: unknown) => e);
    expect(tooCostly).toBeInstanceOf(RateLimitedError);
    expect((tooCostly as RateLimitedError).data).toMatchObject({ limit: 'RATE_LIMIT_COST_PER_TENANT', max: 1000, cost: 2500, left: 500 });
    expect((tooCostly as RateLimitedError).message).toMatch(/costs 2500 points and this tenant has 500 left .*retry in \d+ ms/);
    // Known too large for the rest of the window: refused again without asking the store.
    expect(await rates.chargeCost('a', 600).catch((e: unknown) => e)).toBeInstanceOf(RateLimitedError);
    await rates.chargeCost('a', 400);
    await rates.checkCost('a');
    await rates.chargeCost('a', 100);
    const refused = await rates.checkCost('a').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    const data = (refused as RateLimitedError).data as { retryAfterMs: number; limit: string; max: number };
    expect(data).toMatchObject({ limit: 'RATE_LIMIT_COST_PER_TENANT', max: 1000 });
    expect(data.retryAfterMs).toBeGreaterThan(2000);
    expect(data.retryAfterMs).toBeLessThanOrEqual(3000);
    await rates.checkCost('b');
    await rates.close();
  });

  it('0 turns it off', async () => {
    const rates = await RateLimits.create({ perKey: 0, perTenant: 0, authFailuresPerIp: 0, costPerTenant: 0 });
    await rates.chargeCost('a', 1_000_000);
    await expect(rates.checkCost('a')).resolves.toBeUndefined();
  });
});

describe('costChargePlugin', () => {
  const HEAVY = 'query { runs(first: 100) { nodes { id tasks { key } } } }';
  const LONG_POLL = 'mutation { claimTasks(queue: "q", workerId: "w", max: 10, waitMs: 5000) { id } }';

  async function resolve(plugin: ReturnType<typeof costChargePlugin>, query: string, tenantId: string) {
    const schema = await buildMaestroSchema();
    const document = parse(query);
    const operation = document.definitions[0] as never;
    const hooks = (await plugin.requestDidStart!({} as never))!;
    const args = { schema, document, operation, contextValue: { tenantId } } as never;
    return {
      resolved: hooks.didResolveOperation!(args).then(
        () => null,
        (e: unknown) => e as { extensions: Record<string, unknown> },
      ),
      done: () => hooks.willSendResponse!({} as never),
    };
  }

  it('charges each operation its cost, holds it while executing, and refuses what would pass the bound', async () => {
    const charged: [string, number][] = [];
    const plugin = costChargePlugin({ charge: async (t, c) => void charged.push([t, c]), executing: new KeyedSlots(2000) });
    const first = await resolve(plugin, HEAVY, 'a');
    expect(await first.resolved).toBeNull();
    const second = await resolve(plugin, HEAVY, 'a');
    const refused = await second.resolved;
    expect(refused?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'TENANT_MAX_EXECUTING_COST', max: 2000, retryAfterMs: 1000 });
    expect((refused?.extensions['http'] as { status: number }).status).toBe(429);
    // Another tenant, and a long poll of the same tenant, are not held back.
    expect(await (await resolve(plugin, HEAVY, 'b')).resolved).toBeNull();
    expect(await (await resolve(plugin, LONG_POLL, 'a')).resolved).toBeNull();
    await first.done();
    expect(await (await resolve(plugin, HEAVY, 'a')).resolved).toBeNull();
    expect(charged.map(([t, c]) => `${t}:${c}`)).toEqual(['a:1101', 'b:1101', 'a:10', 'a:1101']);
  });

  it('an operation the budget refuses is answered 429 and gives its executing cost back', async () => {
    let refuse = true;
    const plugin = costChargePlugin({
      charge: async () => {
        if (refuse) throw new RateLimitedError('too costly', { retryAfterMs: 1500, limit: 'RATE_LIMIT_COST_PER_TENANT', cost: 1101, left: 10 });
      },
      executing: new KeyedSlots(2000),
    });
    const refused = await resolve(plugin, HEAVY, 'a');
    const e = await refused.resolved;
    expect(e?.extensions).toMatchObject({ code: 'RATE_LIMITED', cost: 1101, left: 10, retryAfterMs: 1500 });
    expect(e?.extensions['http']).toMatchObject({ status: 429 });
    await refused.done();
    refuse = false;
    expect(await (await resolve(plugin, HEAVY, 'a')).resolved).toBeNull();
  });
});

describe('a refusal', () => {
  it('captures no stack trace (a flood makes thousands) and leaves the stack trace limit as it was', () => {
    const limit = Error.stackTraceLimit;
    const refused = new RateLimitedError('over budget', { retryAfterMs: 100 });
    expect(refused.stack).toBe('RateLimitedError: over budget');
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('a fault').stack?.split('\n').length).toBeGreaterThan(1);
  });
});
