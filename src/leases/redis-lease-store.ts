import Redis from 'ioredis';
import type { LeaseRef, LeaseStore, RenewResult } from './lease-store';
import { connectRedis } from '../startup/redis-connect';

/**
 * Lease key `<prefix>lease:<taskId>` = `<tenantId>/<fence>#<secret>` (`<tenantId>/<fence>` for a
 * lease from before secrets; `X:` before it once revoked), with
 * a TTL; a sorted set `<prefix>lease-expiries` of `<taskId>|<token>|<tenantId>` scored by expiry,
 * for the reaper. Every
 * script reads Redis's own clock (TIME), so all replicas judge expiry by one clock.
 */
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const ACQUIRE = `${NOW}
local ttl = tonumber(ARGV[2])
-- Never replace a newer holder: a grant delayed in flight must not overwrite a later claim's.
local held = redis.call('GET', KEYS[1])
if held then
  local token = tonumber(string.match(held, '/(%d+)#') or string.match(held, '/(%d+)$'))
  if token and token > tonumber(ARGV[4]) then return -1 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
return now + ttl`;

const RENEW = `local v = redis.call('GET', KEYS[1])
if not v then return {0, 'MISSING'} end
if v == 'X:' .. ARGV[1] then return {0, 'CANCELLED'} end
if v ~= ARGV[1] then return {0, 'LOST'} end
${NOW}
local ttl = tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
return {1, now + ttl}`;

/** Whether a stored value is the lease of base `<tenantId>/<fence>`, whatever its secret (revoked or not). */
const SAME = `local function same(v, base)
  if not v then return false end
  if string.sub(v, 1, 2) == 'X:' then v = string.sub(v, 3) end
  return v == base or string.sub(v, 1, #base + 1) == base .. '#'
end`;

const RELEASE = `${SAME}
local v = redis.call('GET', KEYS[1])
if same(v, ARGV[1]) then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1`;

const REVOKE = `${SAME}
local v = redis.call('GET', KEYS[1])
if same(v, ARGV[1]) and string.sub(v, 1, 2) ~= 'X:' then redis.call('SET', KEYS[1], 'X:' .. v, 'KEEPTTL') end
return 1`;

const EXPIRED = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))`;

const TAKE_EXPIRED = `${NOW}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #members > 0 then redis.call('ZREM', KEYS[1], unpack(members)) end
return members`;

type Scripts = {
  leaseTakeExpired(zset: string, limit: number): Promise<string[]>;
  leaseAcquire(key: string, zset: string, value: string, ttl: number, member: string, fence: string): Promise<number>;
  leaseRenew(key: string, zset: string, fence: string, ttl: number, member: string): Promise<[number, string | number]>;
  leaseRelease(key: string, zset: string, fence: string, member: string): Promise<number>;
  leaseRevoke(key: string, fence: string): Promise<number>;
  leaseExpired(zset: string, limit: number): Promise<string[]>;
};

/** The lease's base: tenant and fence, what the conductor's side matches on. */
const value = (l: LeaseRef) => `${l.tenantId}/${l.fence}`;
/** The whole stored value: a renewal must present the secret too. */
const full = (l: LeaseRef) => (l.secret ? `${value(l)}#${l.secret}` : value(l));
const member = (l: LeaseRef) => `${l.taskId}|${l.fence}|${l.tenantId}`;

function parseMember(m: string): LeaseRef {
  const [taskId, fence, tenantId] = m.split('|') as [string, string, string];
  return { taskId, fence, tenantId };
}

export class RedisLeaseStore implements LeaseStore {
  private readonly redis: Redis & Scripts;
  private readonly zset: string;

  private constructor(
    url: string,
    private readonly prefix: string,
  ) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 }) as Redis & Scripts;
    this.redis.on('error', () => undefined);
    this.zset = `${prefix}lease-expiries`;
    this.redis.defineCommand('leaseAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    this.redis.defineCommand('leaseRenew', { numberOfKeys: 2, lua: RENEW });
    this.redis.defineCommand('leaseRelease', { numberOfKeys: 2, lua: RELEASE });
    this.redis.defineCommand('leaseRevoke', { numberOfKeys: 1, lua: REVOKE });
    this.redis.defineCommand('leaseExpired', { numberOfKeys: 1, lua: EXPIRED });
    this.redis.defineCommand('leaseTakeExpired', { numberOfKeys: 1, lua: TAKE_EXPIRED });
  }

  static async connect(url: string, prefix: string): Promise<RedisLeaseStore> {
    const store = new RedisLeaseStore(url, prefix);
    await connectRedis(store.redis);
    return store;
  }

  private key(taskId: string): string {
    return `${this.prefix}lease:${taskId}`;
  }

  async acquire(leases: readonly (LeaseRef & { ttlMs: number })[]): Promise<(Date | null)[]> {
    if (leases.length === 0) return [];
    // One round trip for a whole claim batch.
    // Queued in the pipeline, not sent: exec() sends them in one round trip.
    const pipeline = this.redis.pipeline() as unknown as Scripts & { exec(): Promise<[Error | null, unknown][]> };
    for (const l of leases) void pipeline.leaseAcquire(this.key(l.taskId), this.zset, full(l), l.ttlMs, member(l), l.fence);
    const results = await pipeline.exec();
    return results.map(([err, at]) => {
      if (err) throw err;
      return Number(at) < 0 ? null : new Date(Number(at));
    });
  }

  async renew(lease: LeaseRef, ttlMs: number): Promise<RenewResult> {
    const [ok, result] = await this.redis.leaseRenew(this.key(lease.taskId), this.zset, full(lease), ttlMs, member(lease));
    if (ok === 1) return { ok: true, expiresAt: new Date(Number(result)) };
    return { ok: false, reason: result as 'LOST' | 'CANCELLED' | 'MISSING' };
  }

  async release(leases: readonly LeaseRef[]): Promise<void> {
    if (leases.length === 0) return;
    const pipeline = this.redis.pipeline() as unknown as Scripts & { exec(): Promise<unknown> };
    for (const l of leases) void pipeline.leaseRelease(this.key(l.taskId), this.zset, value(l), member(l));
    await pipeline.exec();
  }

  async revoke(leases: readonly LeaseRef[]): Promise<void> {
    if (leases.length === 0) return;
    const pipeline = this.redis.pipeline() as unknown as Scripts & { exec(): Promise<unknown> };
    for (const l of leases) void pipeline.leaseRevoke(this.key(l.taskId), value(l));
    await pipeline.exec();
  }

  async expired(limit: number): Promise<LeaseRef[]> {
    const members = await this.redis.leaseExpired(this.zset, limit);
    return members.map(parseMember);
  }

  async takeExpired(limit: number): Promise<LeaseRef[]> {
    return (await this.redis.leaseTakeExpired(this.zset, limit)).map(parseMember);
  }

  async untake(leases: readonly LeaseRef[]): Promise<void> {
    if (leases.length === 0) return;
    // Score 0: already expired, first in line for the next pass (NX: a renewal meanwhile wins).
    await this.redis.zadd(this.zset, 'NX', ...leases.flatMap((l) => [0, member(l)]));
  }

  async forget(leases: readonly LeaseRef[]): Promise<void> {
    if (leases.length === 0) return;
    await this.redis.zrem(this.zset, ...leases.map(member));
  }

  async expiresAt(leases: readonly LeaseRef[]): Promise<(Date | null)[]> {
    if (leases.length === 0) return [];
    // The reaper's sorted set holds each lease's expiry as its score: one ZMSCORE (Redis >= 6.2).
    const scores = await this.redis.zmscore(this.zset, ...leases.map(member));
    return scores.map((s) => (s === null ? null : new Date(Number(s))));
  }

  async held(leases: readonly LeaseRef[]): Promise<boolean[]> {
    if (leases.length === 0) return [];
    const values = await this.redis.mget(...leases.map((l) => this.key(l.taskId)));
    return leases.map((l, i) => {
      const v = values[i]?.replace(/^X:/, '');
      return v === value(l) || Boolean(v?.startsWith(`${value(l)}#`));
    });
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }
}
