import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { LeaseStore } from '../../src/leases/lease-store';
import { MemoryLeaseStore } from '../../src/leases/memory-lease-store';
import { RedisLeaseStore } from '../../src/leases/redis-lease-store';
import { systemClock } from '../../src/domain/clock';
import { REAL_REDIS } from '../helpers/db';
import { deleteRedisPrefix } from '../helpers/redis';

const stores: [string, () => Promise<LeaseStore>][] = [['memory', async () => new MemoryLeaseStore(systemClock)]];
const redisPrefix = `test-acq-${randomBytes(4).toString('hex')}:`;
if (REAL_REDIS) stores.push(['redis', () => RedisLeaseStore.connect(process.env['REDIS_URL']!, redisPrefix)]);
afterAll(async () => {
  if (REAL_REDIS) await deleteRedisPrefix(process.env['REDIS_URL']!, redisPrefix);
});

describe.each(stores)('%s lease store: a late grant never replaces a newer holder', (_name, open) => {
  it('refuses to grant an older token over a newer one, and grants a newer one over an older', async () => {
    const store = await open();
    try {
      const taskId = randomUUID();
      const [newer] = await store.acquire([{ taskId, fence: '7', tenantId: 't', ttlMs: 10_000 }]);
      expect(newer).toBeInstanceOf(Date);
      const [late] = await store.acquire([{ taskId, fence: '6', tenantId: 't', ttlMs: 10_000 }]);
      expect(late).toBeNull();
      expect(await store.held([{ taskId, fence: '7', tenantId: 't' }])).toEqual([true]);
      const [next] = await store.acquire([{ taskId, fence: '8', tenantId: 't', ttlMs: 10_000 }]);
      expect(next).toBeInstanceOf(Date);
      expect(await store.renew({ taskId, fence: '7', tenantId: 't' }, 1_000)).toEqual({ ok: false, reason: 'LOST' });
    } finally {
      await store.close();
    }
  });
});

describe.each(stores)('%s lease store: expiresAt (waitingFor reads it)', (_name, open) => {
  it('answers each lease its expiry, moved by a renewal, and null for unknown fences or released leases', async () => {
    const store = await open();
    try {
      const a = { taskId: randomUUID(), fence: '3', tenantId: 't' };
      const b = { taskId: randomUUID(), fence: '1', tenantId: 't' };
      const [granted] = await store.acquire([{ ...a, ttlMs: 10_000 }]);
      expect(await store.expiresAt([a, b, { ...a, fence: '2' }])).toEqual([granted, null, null]);
      const renewed = await store.renew(a, 20_000);
      if (!renewed.ok) throw new Error('renewal refused');
      expect(await store.expiresAt([a])).toEqual([renewed.expiresAt]);
      await store.release([a]);
      expect(await store.expiresAt([a])).toEqual([null]);
      expect(await store.expiresAt([])).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
