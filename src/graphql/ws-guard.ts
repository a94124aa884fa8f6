import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type WebSocket from 'ws';
import type { Gatekeeper, Transport } from '../access/gatekeeper';
import type { Limits } from '../config/limits';
import { DomainError, LimitExceededError, UnauthenticatedError } from '../domain/errors';
import type { BrowserAccess } from '../http/browser-access';
import { KeyedSlots } from '../primitives/keyed-slots';
import type { Principal } from '../services/auth.service';
import { toGraphQLError } from './errors';

/** Close codes the guard uses (graphql-ws's own meanings; the legacy protocol gets the same). */
export const WS_CLOSE = {
  /** The key was revoked, or is no longer valid. */
  unauthorized: 4401,
  /** `connection_init` without a valid key (graphql-ws's own code for a refused onConnect; the reason says what to send). */
  forbidden: 4403,
  /** No `connection_init` in time. */
  initTimeout: 4408,
  /** Too many sockets for this key, or too many requests. */
  tooMany: 4429,
} as const;

type Close = (code: number, reason: string) => void;

/** One admitted socket: released when it closes. */
export interface GuardedSocket {
  readonly principal: Principal;
  release(): void;
}

export interface WsGuardOptions {
  gatekeeper: Gatekeeper;
  browser: BrowserAccess;
  limits: Pick<Limits, 'wsInitTimeoutMs' | 'wsMaxSubscriptionsPerConnection' | 'wsMaxConnectionsPerKey'>;
  /** Which of these key ids are still active (Postgres). */
  stillActive(apiKeyIds: readonly string[]): Promise<Set<string>>;
  /**
   * How often open sockets' keys are re-checked against Postgres, for revocations that were not
   * announced on the bus (a CLI without REDIS_URL, SQL by hand, a replica cut off from Redis). @default 5000
   */
  recheckIntervalMs?: number;
  onError(e: unknown): void;
}

/**
 * Connection-level rules of both WebSocket protocols: who may upgrade (Origin, Host), how long a
 * socket may stay uninitialised, how many sockets one key holds, how many operations one socket
 * runs, that every operation is made with a key that is still valid (and counted against its
 * rate), and that a revoked key's sockets close within moments on every replica.
 */
export class WsGuard {
  private readonly perKey: KeyedSlots;
  /** Open sockets by API key id, to close them when the key is revoked. */
  private readonly byKey = new Map<string, Map<GuardedSocket, Close>>();
  private readonly timer: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly opts: WsGuardOptions) {
    this.perKey = new KeyedSlots(opts.limits.wsMaxConnectionsPerKey);
    this.timer = setInterval(() => void this.sweep(), opts.recheckIntervalMs ?? 5_000);
    this.timer.unref();
  }

  get maxOperationsPerSocket(): number {
    return this.opts.limits.wsMaxSubscriptionsPerConnection;
  }

  /** Refuses an upgrade whose Host or Origin is not allowed (403); true when it was refused. */
  refuseUpgrade(req: IncomingMessage, socket: Duplex): boolean {
    const why = this.opts.browser.refusal(req);
    if (!why) return false;
    socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why)}\r\nConnection: close\r\n\r\n${why}`);
    return true;
  }

  /** The legacy protocol has no `connection_init` timeout of its own: close sockets not initialised in time. */
  watchInit(ws: WebSocket): { initialised(): void } {
    const timer = setTimeout(() => ws.close(WS_CLOSE.initTimeout, 'Connection initialisation timeout'), this.opts.limits.wsInitTimeoutMs);
    ws.once('close', () => clearTimeout(timer));
    return { initialised: () => clearTimeout(timer) };
  }

  /**
   * Authenticates a `connection_init` and takes a socket slot of its key. On refusal the socket is
   * closed with a code and reason naming what to fix, and the error is thrown.
   */
  async connect(authorization: string | undefined, req: IncomingMessage, transport: Transport, close: Close): Promise<GuardedSocket> {
    let principal: Principal;
    try {
      principal = await this.opts.gatekeeper.admit(authorization, { ip: this.opts.gatekeeper.clientIp(req), transport });
    } catch (e: unknown) {
      // A bad key: graphql-ws would close with a bare "Forbidden", so say what is missing instead;
      // the legacy protocol answers connection_error with the message itself, then closes.
      if (e instanceof DomainError && e.code === 'RATE_LIMITED') {
        close(WS_CLOSE.tooMany, reasonOf(e));
      } else if (e instanceof DomainError && e.code === 'UNAUTHENTICATED' && transport === 'graphql-ws') {
        close(WS_CLOSE.forbidden, forbiddenReason(authorization));
      }
      throw e;
    }
    const slotKey = principal.apiKeyId ?? `tenant:${principal.tenantId}`;
    const release = this.perKey.tryAcquire(slotKey);
    if (!release) {
      const max = this.perKey.capacity;
      const e = new LimitExceededError(`This API key already holds ${max} WebSockets on this replica: close some, or raise WS_MAX_CONNECTIONS_PER_KEY`, {
        limit: 'WS_MAX_CONNECTIONS_PER_KEY',
        max,
      });
      close(WS_CLOSE.tooMany, reasonOf(e));
      throw e;
    }
    const handle: GuardedSocket = {
      principal,
      release: () => {
        release();
        if (principal.apiKeyId) {
          const set = this.byKey.get(principal.apiKeyId);
          set?.delete(handle);
          if (set?.size === 0) this.byKey.delete(principal.apiKeyId);
        }
      },
    };
    if (principal.apiKeyId) {
      let set = this.byKey.get(principal.apiKeyId);
      if (!set) this.byKey.set(principal.apiKeyId, (set = new Map()));
      set.set(handle, close);
    }
    return handle;
  }

  /**
   * Before each operation on a socket: the key must still be valid (a revoked key's new
   * operations are refused and its socket closed), the socket under its operation cap, and the
   * key and tenant under their rates. Returns the refusal as GraphQL errors, or null.
   */
  async operation(
    socket: GuardedSocket,
    authorization: string | undefined,
    openOperations: number,
    req: { ip: string; transport: Transport },
  ): Promise<readonly GraphQLError[] | null> {
    const max = this.maxOperationsPerSocket;
    if (openOperations > max) {
      return [
        toGraphQLError(
          new LimitExceededError(`This WebSocket already runs ${max} operations: complete some, or open another socket`, {
            limit: 'WS_MAX_SUBSCRIPTIONS_PER_CONNECTION',
            max,
            actual: openOperations,
          }),
        ),
      ];
    }
    try {
      const principal = await this.opts.gatekeeper.authenticate(authorization, req);
      if (principal.apiKeyId !== socket.principal.apiKeyId) throw new UnauthenticatedError('The API key of this WebSocket is no longer valid');
      await this.opts.gatekeeper.admitRequest(principal);
      return null;
    } catch (e: unknown) {
      if (!(e instanceof DomainError)) throw e;
      if (e.code === 'UNAUTHENTICATED') this.closeKey(socket.principal.apiKeyId, socket, 100);
      return [toGraphQLError(e)];
    }
  }

  /**
   * Charges a WebSocket operation's cost to its tenant's budget (a spent budget is checked in
   * `operation`). Returns the refusal (too costly for what is left) as GraphQL errors, or null.
   */
  async chargeCost(tenantId: string, cost: number): Promise<readonly GraphQLError[] | null> {
    try {
      await this.opts.gatekeeper.chargeCost(tenantId, cost);
      return null;
    } catch (e: unknown) {
      if (!(e instanceof DomainError)) throw e;
      return [toGraphQLError(e)];
    }
  }

  /** Closes every socket of a revoked key on this replica. */
  revoked(apiKeyId: string): void {
    this.closeKey(apiKeyId);
  }

  /** Open sockets per key id (tests, diagnostics). */
  socketsOf(apiKeyId: string): number {
    return this.byKey.get(apiKeyId)?.size ?? 0;
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** `afterMs`: let a refusal just returned reach the client before its socket closes. */
  private closeKey(apiKeyId: string | null, only?: GuardedSocket, afterMs = 0): void {
    if (!apiKeyId) return;
    const sockets = this.byKey.get(apiKeyId);
    if (!sockets) return;
    for (const [handle, close] of [...sockets]) {
      if (only && handle !== only) continue;
      handle.release();
      if (afterMs > 0) setTimeout(() => close(WS_CLOSE.unauthorized, 'The API key was revoked'), afterMs).unref();
      else close(WS_CLOSE.unauthorized, 'The API key was revoked');
    }
  }

  /** Re-checks the keys of open sockets against Postgres; one query per interval, skipped while one runs. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.byKey.size === 0) return;
    this.sweeping = true;
    try {
      const ids = [...this.byKey.keys()];
      const active = await this.opts.stillActive(ids);
      for (const id of ids) if (!active.has(id)) this.closeKey(id);
    } catch (e: unknown) {
      this.opts.onError(e);
    } finally {
      this.sweeping = false;
    }
  }
}

/** A close reason (at most 123 bytes) naming the error's code and what to fix. */
/** Within the 123 bytes a close reason may hold. */
function forbiddenReason(authorization: string | undefined): string {
  return authorization?.trim()
    ? 'Forbidden: the API key is not valid or was revoked'
    : 'Forbidden: an API key is required; send { "authorization": "Bearer <key>" } as connection_init payload';
}

function reasonOf(e: DomainError): string {
  const text = `${e.code}: ${e.message}`;
  return Buffer.byteLength(text) <= 123
    ? text
    : Buffer.from(text)
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD$/, '') + '…';
}

/**
 * The legacy transport's `subscribe`, counting live subscriptions per socket: over the cap the
 * operation answers LIMIT_EXCEEDED; a subscription leaves the count when it ends either way.
 */
export function countedSubscribe(
  subscribe: (args: ExecutionArgs) => Promise<AsyncIterable<ExecutionResult> | ExecutionResult> | AsyncIterable<ExecutionResult> | ExecutionResult,
  counterOf: (contextValue: unknown) => { live: number; max: number } | undefined,
) {
  return async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const counter = counterOf(args.contextValue);
    if (counter && counter.live >= counter.max) {
      return {
        errors: [
          toGraphQLError(
            new LimitExceededError(`This WebSocket already runs ${counter.max} subscriptions: stop some, or open another socket`, {
              limit: 'WS_MAX_SUBSCRIPTIONS_PER_CONNECTION',
              max: counter.max,
            }),
          ),
        ],
      };
    }
    if (!counter) return (await subscribe(args)) as AsyncIterableIterator<ExecutionResult> | ExecutionResult;
    // Counted before subscribing: subscriptions started together all see each other.
    counter.live++;
    let result: AsyncIterable<ExecutionResult> | ExecutionResult;
    try {
      result = await subscribe(args);
    } catch (e: unknown) {
      counter.live--;
      throw e;
    }
    if (!(Symbol.asyncIterator in Object(result))) {
      counter.live--;
      return result as ExecutionResult;
    }
    const inner = (result as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator]();
    let counted = true;
    const done = () => {
      if (counted) counter.live--;
      counted = false;
    };
    const iterator: AsyncIterableIterator<ExecutionResult> = {
      async next() {
        const r = await inner.next();
        if (r.done) done();
        return r;
      },
      async return(value?: unknown) {
        done();
        return inner.return ? inner.return(value) : { done: true, value: undefined };
      },
      async throw(e?: unknown) {
        done();
        if (inner.throw) return inner.throw(e);
        throw e;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return iterator;
  };
}
