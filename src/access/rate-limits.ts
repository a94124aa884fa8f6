import Redis from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { RateLimitedError } from '../domain/errors';

/** What the request rate limits count in: one bucket family each. */
export type RateScope = 'key' | 'tenant' | 'ip' | 'cost';

export interface RateLimitsOptions {
  /** Requests per second per API key; 0: no limit. */
  perKey: number;
  /** Requests per second per tenant; 0: no limit. */
  perTenant: number;
  /** Failed authentications per client IP per minute; 0: no limit. */
  authFailuresPerIp: number;
  /** GraphQL cost points per second per tenant (operationBudgetRule's cost); 0: no limit. @default 0 */
  costPerTenant?: number;
  /** The most one operation may cost (GRAPHQL_MAX_COST): the cost window is long enough to hold one. @default costPerTenant */
  maxOperationCost?: number;
  /** Shared counters for every replica; unset: this process's memory (embedded mode). */
  redisUrl?: string;
  /** @default maestro: */
  redisKeyPrefix?: string;
}

/** Spent windows remembered by a replica (oldest forgotten first: a forgotten one is read again). */
const MAX_SPENT = 10_000;

/** Sets `key` in a map of at most MAX_SPENT entries, forgetting the oldest when it is full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_SPENT && !map.has(key)) map.delete(map.keys().next().value!);
  map.set(key, value);
}

const CONFIG_NAME: Record<RateScope, string> = {
  key: 'RATE_LIMIT_PER_KEY',
  tenant: 'RATE_LIMIT_PER_TENANT',
  ip: 'AUTH_FAILURES_PER_IP',
  cost: 'RATE_LIMIT_COST_PER_TENANT',
};

/**
 * Fixed-window request counters (rate-limiter-flexible): per API key and per tenant per second,
 * and failed authentications per client IP per minute. With Redis every replica counts in the same
 * buckets (one INCR+PEXPIRE round trip per request, none for a window this replica saw spent:
 * refused here until it ends); each Redis limiter carries an in-memory insurance limiter, so a
 * Redis outage falls back to per-replica counting instead of failing requests. Refusals are
 * `RateLimitedError` with `retryAfterMs`.
 *
 * The cost budget is spent in two steps: a request is admitted while its tenant's window is not
 * spent (`checkCost`, before its body is read), and its operation's cost is charged once known
 * (`chargeCost`): an operation that does not fit in what is left of the window is refused (and
 * takes nothing), as a token bucket refuses a request larger than the tokens it holds. The window
 * lasts as many seconds as one operation of the largest allowed cost needs (GRAPHQL_MAX_COST
 * 20,000 at 5,000 a second: 4 s windows of 20,000), so a tenant sending only the heaviest queries
 * gets its rate too. Charging past the budget instead let a second heaviest query into every
 * window that had a point left: twice the budget (bench scenario 7).
 */
export class RateLimits {
  private readonly limiters: Partial<Record<RateScope, RateLimiterAbstract>> = {};
  private readonly points: Record<RateScope, number>;
  private readonly costPerSecond: number;
  /**
   * Windows seen spent by a read (`checkCost`, `checkIp`) or a refused count (`consume`), by scope and key: until when (this
   * process's monotonic clock). A spent window only fills further until it ends, so the refusal
   * holds without asking Redis again.
   */
  private readonly spent = new Map<string, number>();
  /**
   * What was left of a tenant's cost window after this replica's last charge (one that fit or one
   * that did not), and until when: an upper bound (other replicas only take more), so an operation
   * larger than it is refused here without asking Redis again, and while points are left the
   * look before a request is read (`checkCost`) needs no round trip either.
   */
  private readonly costLeft = new Map<string, { left: number; until: number }>();

  private constructor(
    opts: RateLimitsOptions,
    private readonly redis: Redis | null,
  ) {
    const costPerTenant = opts.costPerTenant ?? 0;
    const costWindowS = costPerTenant > 0 ? Math.max(1, Math.ceil((opts.maxOperationCost ?? costPerTenant) / costPerTenant)) : 1;
    this.costPerSecond = costPerTenant;
    this.points = { key: opts.perKey, tenant: opts.perTenant, ip: opts.authFailuresPerIp, cost: costPerTenant * costWindowS };
    const prefix = `${opts.redisKeyPrefix ?? 'maestro:'}rl`;
    for (const scope of ['key', 'tenant', 'ip', 'cost'] as const) {
      const points = this.points[scope];
      if (points <= 0) continue;
      const duration = scope === 'ip' ? 60 : scope === 'cost' ? costWindowS : 1;
      const keyPrefix = `${prefix}:${scope}`;
      const memory = new RateLimiterMemory({ points, duration, keyPrefix });
      // A window seen spent is refused here, without Redis, until it ends (a flooder that ignores
      // Retry-After cost three Redis round trips a request, ~240 a second in bench scenario 7):
      // by `spent` for keys and tenants (not the library's inMemoryBlockOnConsumed: it would keep
      // blocking a tenant whose last point a request took and gave back when its key refused it),
      // by `costLeft` and `spent` for the cost budget (an operation too large for what is left is
      // given its points back, and a smaller one may still fit); by the library's block for
      // failed authentications.
      this.limiters[scope] = redis
        ? new RateLimiterRedis({
            storeClient: redis,
            points,
            duration,
            keyPrefix,
            insuranceLimiter: memory,
            rejectIfRedisNotReady: true,
            ...(scope === 'ip' ? { inMemoryBlockOnConsumed: points } : {}),
          })
        : memory;
    }
  }

  static async create(opts: RateLimitsOptions): Promise<RateLimits> {
    const needsStore = opts.perKey > 0 || opts.perTenant > 0 || opts.authFailuresPerIp > 0 || (opts.costPerTenant ?? 0) > 0;
    if (!opts.redisUrl || !needsStore) return new RateLimits(opts, null);
    // No offline queue: while Redis is away a request counts in memory at once instead of waiting.
    // No auto-pipelining: it flushes on setImmediate, and cost more CPU per request than it saved
    // in writes (a key's and its tenant's counts at concurrency 1 and 8, measured).
    const redis = new Redis(opts.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    await redis.connect();
    return new RateLimits(opts, redis);
  }

  /** Counts one request of a caller; throws RateLimitedError when a key's or tenant's budget is spent. */
  async consume(principal: { tenantId: string; apiKeyId: string | null }): Promise<void> {
    const { apiKeyId, tenantId } = principal;
    // A key or tenant refused in this window is refused here again, before anything is counted.
    if (apiKeyId) this.throwIfSpent('key', apiKeyId);
    this.throwIfSpent('tenant', tenantId);
    if (!apiKeyId) return this.take('tenant', tenantId);
    // At once (one round trip), not one after the other: 160 → 130 µs of CPU and a round trip
    // less per request (20,000 counts on a slow 2-core machine). A request its key's rate
    // refuses gives its tenant's point back: one key over its rate does not spend the others'.
    // One its tenant's rate refuses keeps its key's point (as before: the key did send it).
    const [key, tenant] = await Promise.allSettled([this.take('key', apiKeyId), this.take('tenant', tenantId)]);
    if (key.status === 'rejected') {
      if (tenant.status === 'fulfilled') {
        void this.limiters.tenant?.reward(tenantId).catch(() => undefined);
        this.spent.delete(`tenant:${tenantId}`);
      }
      throw key.reason;
    }
    if (tenant.status === 'rejected') throw tenant.reason;
  }

  /** Throws RateLimitedError while the tenant's cost window is spent (checked before the request is read). */
  async checkCost(tenantId: string): Promise<void> {
    // Charged here in this window: what was left then says (an operation that then does not fit
    // is refused by its charge, which asks Redis).
    const seen = this.costSeen(tenantId);
    if (seen && seen.left > 0) return;
    if (seen) throw this.refusal('cost', seen.ms);
    await this.check('cost', tenantId);
  }

  /**
   * Charges an operation's cost to its tenant; throws RateLimitedError (nothing charged) when it
   * does not fit in what is left of the tenant's window. A failed store lets it through, like `take`.
   *
   * An operation that this replica knows fits with half a window to spare (what was left at its
   * last charge, less what it charged since) is charged in the background: the operation does not
   * wait for the store's round trip (one of four a startRun waited for). Other replicas' spending
   * in the meantime can let it through over the budget by at most what is in flight here; the
   * store's answer corrects what is remembered, and the next operations are refused on it.
   */
  async chargeCost(tenantId: string, cost: number): Promise<void> {
    const limiter = this.limiters.cost;
    if (!limiter || cost <= 0) return;
    // A window holds one operation of the largest cost (GRAPHQL_MAX_COST); a larger one, only
    // possible when the two settings disagree, takes a whole window instead of never fitting.
    const points = Math.min(cost, this.points.cost);
    const seen = this.costSeen(tenantId);
    if (seen && points > seen.left) throw this.tooCostly(cost, seen.left, seen.ms);
    if (seen && seen.left - points >= this.points.cost / 2) {
      remember(this.costLeft, tenantId, { left: seen.left - points, until: performance.now() + seen.ms });
      this.consumeCost(tenantId, points, null).catch(() => undefined);
      return;
    }
    await this.consumeCost(tenantId, points, cost);
  }

  /**
   * Takes `points` of the tenant's cost window in the store and remembers what is left. Refused:
   * the points are given back and the refusal thrown, or, for an operation charged in the
   * background (`cost` null: it ran), kept and only remembered.
   */
  private async consumeCost(tenantId: string, points: number, cost: number | null): Promise<void> {
    const limiter = this.limiters.cost!;
    try {
      const res = await limiter.consume(tenantId, points);
      remember(this.costLeft, tenantId, { left: res.remainingPoints, until: performance.now() + res.msBeforeNext });
    } catch (e: unknown) {
      if (!(e instanceof RateLimiterRes)) return;
      if (cost === null) {
        remember(this.costLeft, tenantId, { left: Math.max(0, this.points.cost - e.consumedPoints), until: performance.now() + e.msBeforeNext });
        return;
      }
      await limiter.reward(tenantId, points).catch(() => undefined);
      const left = Math.max(0, this.points.cost - (e.consumedPoints - points));
      remember(this.costLeft, tenantId, { left, until: performance.now() + e.msBeforeNext });
      throw this.tooCostly(cost, left, e.msBeforeNext);
    }
  }

  /** Counts a failed authentication from `ip`. */
  async authFailed(ip: string): Promise<void> {
    const limiter = this.limiters.ip;
    if (!limiter) return;
    await limiter.consume(ip).catch(() => undefined);
  }

  /** Throws RateLimitedError when `ip` failed to authenticate too often in the current minute. */
  async checkIp(ip: string): Promise<void> {
    await this.check('ip', ip);
  }

  async close(): Promise<void> {
    await this.redis?.quit().catch(() => undefined);
  }

  /** Throws RateLimitedError while `key`'s window of `scope` is spent (read, not counted). */
  private async check(scope: 'cost' | 'ip', key: string): Promise<void> {
    const limiter = this.limiters[scope];
    if (!limiter) return;
    this.throwIfSpent(scope, key);
    const res = await limiter.get(key).catch(() => null);
    if (!res || res.consumedPoints < this.points[scope]) return;
    remember(this.spent, `${scope}:${key}`, performance.now() + res.msBeforeNext);
    throw this.refusal(scope, res.msBeforeNext);
  }

  /** Whether this replica saw `key`'s window of `scope` spent, and it has not ended (no store asked). */
  seenSpent(scope: RateScope, key: string): boolean {
    return this.spentFor(scope, key) > 0 || (scope === 'cost' && this.costSeen(key)?.left === 0);
  }

  /** What was left of the tenant's cost window at this replica's last charge, while that window lasts. */
  private costSeen(tenantId: string): { left: number; ms: number } | null {
    const seen = this.costLeft.get(tenantId);
    if (!seen) return null;
    const ms = seen.until - performance.now();
    if (ms > 0) return { left: seen.left, ms };
    this.costLeft.delete(tenantId);
    return null;
  }

  /** Throws RateLimitedError while `key`'s window of `scope` is known spent here (no store asked). */
  private throwIfSpent(scope: RateScope, key: string): void {
    const left = this.spentFor(scope, key);
    if (left > 0) throw this.refusal(scope, left);
  }

  /** Milliseconds until `key`'s window of `scope`, seen spent here, ends; 0 when not seen spent. */
  private spentFor(scope: RateScope, key: string): number {
    const id = `${scope}:${key}`;
    const until = this.spent.get(id);
    if (until === undefined) return 0;
    const left = until - performance.now();
    if (left > 0) return left;
    this.spent.delete(id);
    return 0;
  }

  private async take(scope: RateScope, key: string): Promise<void> {
    const limiter = this.limiters[scope];
    if (!limiter) return;
    try {
      const res = await limiter.consume(key);
      // Its last point: the next request of the window is refused here, without Redis.
      if (res.remainingPoints === 0) remember(this.spent, `${scope}:${key}`, performance.now() + res.msBeforeNext);
    } catch (e: unknown) {
      // A RateLimiterRes is a refusal; an Error (Redis and insurance both failed) lets the request through.
      if (!(e instanceof RateLimiterRes)) return;
      remember(this.spent, `${scope}:${key}`, performance.now() + e.msBeforeNext);
      throw this.refusal(scope, e.msBeforeNext);
    }
  }

  private tooCostly(cost: number, left: number, msBeforeNext: number): RateLimitedError {
    const retryAfterMs = Math.max(1, Math.ceil(msBeforeNext));
    const perSecond = this.costPerSecond;
    return new RateLimitedError(
      `This operation costs ${cost} points and this tenant has ${left} left of its GraphQL cost budget (${perSecond} points a second; an operation costs the objects it may return, lists by their first/last): retry in ${retryAfterMs} ms, or ask for smaller pages`,
      { retryAfterMs, limit: CONFIG_NAME.cost, max: perSecond, cost, left },
    );
  }

  private refusal(scope: RateScope, msBeforeNext: number): RateLimitedError {
    const retryAfterMs = Math.max(1, Math.ceil(msBeforeNext));
    const max = this.points[scope];
    if (scope === 'cost') {
      const perSecond = this.costPerSecond;
      return new RateLimitedError(
        `This tenant's GraphQL cost budget is spent (${perSecond} points a second; an operation costs the objects it may return, lists by their first/last): retry in ${retryAfterMs} ms, or ask for smaller pages`,
        { retryAfterMs, limit: CONFIG_NAME.cost, max: perSecond },
      );
    }
    const what =
      scope === 'ip'
        ? `Too many failed authentications from this address (max ${max} a minute)`
        : `Too many requests for this ${scope === 'key' ? 'API key' : 'tenant'} (max ${max} a second)`;
    return new RateLimitedError(`${what}: retry in ${retryAfterMs} ms`, { retryAfterMs, limit: CONFIG_NAME[scope], max });
  }
}
