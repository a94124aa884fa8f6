import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { UnauthenticatedError } from '../domain/errors';
import type { Logger } from '../observability/logger';
import type { AuthService, Principal } from '../services/auth.service';
import type { RateLimits, RateScope } from './rate-limits';

export type Transport = 'http' | 'graphql-ws' | 'subscriptions-transport-ws';
/** Why an authentication failed: no key where one is required, or a key that is unknown or revoked; `ip_limited`: refused unchecked. */
export type AuthFailureReason = 'missing' | 'invalid' | 'ip_limited';

export interface GatekeeperObserver {
  authFailed(reason: AuthFailureReason): void;
  rateLimited(scope: RateScope | 'long_poll'): void;
}

/** Where a request comes from, for the per-IP limit and the log line. */
export interface Caller {
  ip: string;
  transport: Transport;
}

/**
 * The one door of every transport: authenticates a caller, counts failed authentications (metric
 * and a log line with no key material) and refuses an address that failed too often before its
 * unknown keys reach the database, and counts each request against its key's and tenant's rate.
 */
export class Gatekeeper {
  private readonly trust: ((addr: string, i: number) => boolean) | null;

  constructor(
    private readonly deps: {
      auth: AuthService;
      rates: RateLimits;
      log: Logger;
      observer?: GatekeeperObserver;
      /** Express `trust proxy` value (TRUST_PROXY). @default unset: the socket's peer is the client */
      trustProxy?: number | string;
    },
  ) {
    const trust = deps.trustProxy;
    if (trust === undefined) this.trust = null;
    else if (typeof trust === 'number') this.trust = (_addr, i) => i < trust;
    else this.trust = proxyaddr.compile(trust.split(',').map((s) => s.trim()));
  }

  /** The client address of a request (X-Forwarded-For only through trusted proxies). */
  clientIp(req: IncomingMessage): string {
    if (this.trust) return proxyaddr(req, this.trust);
    return req.socket.remoteAddress ?? 'unknown';
  }

  /** Authenticates without counting a request. */
  async authenticate(authorization: string | null | undefined, caller: Caller): Promise<Principal> {
    if (!this.deps.auth.isCached(authorization)) {
      try {
        await this.deps.rates.checkIp(caller.ip);
      } catch (e: unknown) {
        this.failed('ip_limited', caller);
        throw e;
      }
    }
    try {
      return await this.deps.auth.authenticate(authorization);
    } catch (e: unknown) {
      if (e instanceof UnauthenticatedError) {
        this.failed(authorization?.trim() ? 'invalid' : 'missing', caller);
        await this.deps.rates.authFailed(caller.ip);
      }
      throw e;
    }
  }

  /** Authenticates and counts one request against the key's and the tenant's rate. */
  async admit(authorization: string | null | undefined, caller: Caller): Promise<Principal> {
    const principal = await this.authenticate(authorization, caller);
    await this.consume(principal);
    return principal;
  }

  /** Counts one request of an authenticated principal. */
  async consume(principal: Principal): Promise<void> {
    try {
      await this.deps.rates.consume(principal);
    } catch (e: unknown) {
      this.deps.observer?.rateLimited(principal.apiKeyId ? 'key' : 'tenant');
      throw e;
    }
  }

  /**
   * Counts one GraphQL request and looks at its tenant's cost budget, at once (two round trips to
   * Redis side by side). A budget this replica already saw spent refuses first, counting nothing
   * and asking nothing: a flooder's refused requests cost no Redis round trip.
   */
  async admitRequest(principal: Principal): Promise<void> {
    if (this.deps.rates.seenSpent('cost', principal.tenantId)) return this.checkCost(principal.tenantId);
    await Promise.all([this.consume(principal), this.checkCost(principal.tenantId)]);
  }

  /** Throws RateLimitedError while the tenant's GraphQL cost budget is spent. */
  async checkCost(tenantId: string): Promise<void> {
    try {
      await this.deps.rates.checkCost(tenantId);
    } catch (e: unknown) {
      this.deps.observer?.rateLimited('cost');
      throw e;
    }
  }

  /** Charges an operation's cost to its tenant's budget; throws RateLimitedError when it does not fit. */
  async chargeCost(tenantId: string, cost: number): Promise<void> {
    try {
      await this.deps.rates.chargeCost(tenantId, cost);
    } catch (e: unknown) {
      this.deps.observer?.rateLimited('cost');
      throw e;
    }
  }

  private failed(reason: AuthFailureReason, caller: Caller): void {
    this.deps.observer?.authFailed(reason);
    // No key material, not even a prefix: the address, the transport and why.
    this.deps.log.warn({ reason, ip: caller.ip, transport: caller.transport }, 'authentication failed');
  }
}
