import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { execute, subscribe, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLError, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { SubscriptionServer } from 'subscriptions-transport-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Gatekeeper } from '../access/gatekeeper';
import { DomainError, UnauthenticatedError } from '../domain/errors';
import type { HttpAdmission } from '../http/admission';
import type { BusyShares } from '../primitives/busy-shares';
import { createContext, type Context, type Services } from './context';
import { websocketCost } from './cost-charge';
import { mapError, toGraphQLError } from './errors';
import type { GraphQLGuard } from './guard';
import { graphqlWsGuard, legacyGuard } from './guard-transports';
import { SharedSubscriptions } from './shared-subscriptions';
import { countedSubscribe, type GuardedSocket, type WsGuard } from './ws-guard';

export interface WebSocketTransports {
  /** Open sockets of both protocols, for the subscriptions gauge. */
  clientCount(): number;
  /** graphql-ws subscriptions executed once for several subscribers (see SharedSubscriptions). */
  readonly shared: SharedSubscriptions;
  close(): Promise<void>;
}

type ConnectionParams = Record<string, unknown> | undefined | null;

function authorizationOf(params: ConnectionParams): string | undefined {
  const value = params?.['authorization'] ?? params?.['Authorization'];
  if (typeof value === 'string') return value;
  const headers = params?.['headers'] as Record<string, unknown> | undefined;
  const fromHeaders = headers?.['authorization'] ?? headers?.['Authorization'];
  return typeof fromHeaders === 'string' ? fromHeaders : undefined;
}

/**
 * `execute` of both WebSocket protocols: a query or mutation takes its turn among its tenant's
 * requests while the replica is busy (BusyShares), as an HTTP request does at admission, and
 * holds it until its result is ready; a refusal (waited too long) is the result's error.
 * Subscriptions go through `subscribe` and take none.
 */
function sharedExecute(shares: BusyShares): (args: ExecutionArgs) => Promise<ExecutionResult> {
  return async (args) => {
    const context = args.contextValue as Context;
    let leave: () => void;
    try {
      leave = await shares.enter(context.tenantId);
    } catch (e: unknown) {
      if (e instanceof DomainError) return { errors: [toGraphQLError(e)] };
      throw e;
    }
    context.leaveShare = leave;
    try {
      return await execute(args);
    } finally {
      leave();
    }
  };
}

/**
 * The context of an operation over HTTP: the tenant of the caller's API key, and a signal that
 * aborts when the client goes away before its response is sent (ending a long poll). A refused
 * key or a spent rate is a GraphQL error with its HTTP status (401, 429 with Retry-After).
 */
export function httpContext(
  services: Services,
  gatekeeper: Gatekeeper,
  admission: HttpAdmission,
): (args: { req: IncomingMessage; res: ServerResponse }) => Promise<Context> {
  return async ({ req, res }) => {
    try {
      const ip = (req as { ip?: string }).ip ?? gatekeeper.clientIp(req);
      // Admitted before its body was read (a POST), or now (a GET).
      const { principal, leaveShare } = await admission.admission(req, res, ip);
      const gone = new AbortController();
      const onGone: (() => void)[] = [];
      res.once('close', () => {
        if (res.writableFinished) return;
        gone.abort();
        for (const fn of onGone.splice(0)) fn();
      });
      // Registered after the client left: run at once.
      const undelivered = (fn: () => void) => (gone.signal.aborted ? fn() : onGone.push(fn));
      const context = createContext(services, principal.tenantId, gone.signal, undelivered, principal);
      context.leaveShare = leaveShare;
      return context;
    } catch (e: unknown) {
      throw mapError(e, true);
    }
  };
}

/**
 * Subscriptions on the HTTP server's port and path. Clients speaking `graphql-transport-ws`
 * (graphql-ws, the current protocol) get graphql-ws; GraphQL Playground still speaks the legacy
 * `graphql-ws` subprotocol of subscriptions-transport-ws, which is served beside it so that the
 * landing page's subscriptions work too. Both authenticate in `connection_init` (`authorization`);
 * the connection-level rules of both (WsGuard) are: Origin/Host on upgrade, a message size cap,
 * an init timeout, sockets per key, operations per socket, credentials and rates per operation.
 */
export function attachWebSockets(opts: {
  httpServer: Server;
  path: string;
  schema: GraphQLSchema;
  services: Services;
  /** Parse, validation, limits and error masking: the same as on HTTP (src/graphql/guard.ts). */
  guard: GraphQLGuard;
  /** Connection-level rules: origins, credentials re-checked, caps and rates (src/graphql/ws-guard.ts). */
  wsGuard: WsGuard;
  /** Largest message, bytes: the HTTP body limit (the `ws` default of 100 MiB applies before authentication). */
  maxPayload: number;
  initTimeoutMs: number;
  shares: BusyShares;
}): WebSocketTransports {
  const { httpServer, path, schema, services, guard, wsGuard } = opts;
  const modern = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload });
  const legacy = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload });
  const shared = new SharedSubscriptions(undefined, { parse: guard.parse, validate: guard.validate });

  const graphqlChecks = graphqlWsGuard(guard, schema, shared);
  const modernCleanup = useServer<Record<string, unknown>, { guarded?: GuardedSocket; ip?: string }>(
    {
      schema,
      execute: sharedExecute(opts.shares),
      onNext: graphqlChecks.onNext,
      onError: graphqlChecks.onError,
      subscribe: shared.subscribe,
      connectionInitWaitTimeout: opts.initTimeoutMs,
      onConnect: async (ctx) => {
        const request = ctx.extra.request;
        try {
          ctx.extra.guarded = await wsGuard.connect(authorizationOf(ctx.connectionParams), request, 'graphql-ws', (code, reason) =>
            ctx.extra.socket.close(code, reason),
          );
          ctx.extra.ip = request.socket.remoteAddress ?? 'unknown';
          // graphql-ws keeps the upgrade request for the socket's life and nothing here reads it
          // after authentication: ~1.5 KB of headers per idle subscriber (bench scenario 6).
          delete (ctx.extra as { request?: unknown }).request;
          return true;
        } catch (e: unknown) {
          if (e instanceof DomainError) return false;
          throw e;
        }
      },
      // Connection-level rules first (credentials, rates, operations per socket), then the same
      // parse, validation and limits as on HTTP.
      onSubscribe: async (ctx, id, payload) => {
        const guarded = ctx.extra.guarded;
        if (!guarded) return undefined;
        const refused = await wsGuard.operation(guarded, authorizationOf(ctx.connectionParams), Object.keys(ctx.subscriptions).length, {
          ip: ctx.extra.ip ?? 'unknown',
          transport: 'graphql-ws',
        });
        if (refused) return [...refused];
        const checked = await graphqlChecks.onSubscribe!(ctx, id, payload);
        if (checked && !Array.isArray(checked)) {
          const tooCostly = await wsGuard.chargeCost(
            guarded.principal.tenantId,
            websocketCost(schema, (checked as ExecutionArgs).document, payload.operationName),
          );
          if (tooCostly) return [...tooCostly];
        }
        return checked;
      },
      onClose: (ctx) => ctx.extra.guarded?.release(),
      context: (ctx) => createContext(services, ctx.extra.guarded!.principal.tenantId, undefined, undefined, ctx.extra.guarded!.principal),
    },
    modern,
  );

  // Legacy sockets: the per-socket state the guard needs, and live subscriptions per socket.
  const legacySockets = new WeakMap<WebSocket, { guarded?: GuardedSocket; initialised(): void; live: number; ip: string }>();
  const counters = new WeakMap<object, { live: number; max: number }>();
  legacy.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    legacySockets.set(ws, { ...wsGuard.watchInit(ws), live: 0, ip: req.socket.remoteAddress ?? 'unknown' });
  });
  const legacyServer = new SubscriptionServer(
    {
      schema,
      execute: sharedExecute(opts.shares),
      subscribe: countedSubscribe(subscribe, (contextValue) => counters.get(contextValue as object)),
      keepAlive: 15_000,
      onConnect: async (params: ConnectionParams, socket: WebSocket, connection: { request: IncomingMessage }) => {
        const state = legacySockets.get(socket);
        state?.initialised();
        const authorization = authorizationOf(params);
        const guarded = await wsGuard.connect(authorization, connection.request, 'subscriptions-transport-ws', (code, reason) => socket.close(code, reason));
        if (state) state.guarded = guarded;
        socket.once('close', () => guarded.release());
        return { principal: guarded.principal, authorization };
      },
      // The guard validates (in onOperation); the server's own pass would only repeat it.
      validationRules: [],
      onOperation: legacyGuard(
        guard,
        schema,
        async (_message: unknown, params: { query: unknown; operationName?: string; context: { authorization?: string } }, socket: WebSocket) => {
          const state = legacySockets.get(socket);
          // The legacy server runs a `start` sent before `connection_init` as if initialised.
          const refused = state?.guarded
            ? await wsGuard.operation(state.guarded, params.context.authorization, 0, { ip: state.ip, transport: 'subscriptions-transport-ws' })
            : [toGraphQLError(new UnauthenticatedError('Send connection_init (with "authorization") before any operation'))];
          if (refused) throw legacyRefusal(refused);
          const tenantId = state!.guarded!.principal.tenantId;
          const tooCostly = await wsGuard.chargeCost(tenantId, websocketCost(schema, params.query as DocumentNode, params.operationName));
          if (tooCostly) throw legacyRefusal(tooCostly);
          const context = createContext(services, tenantId, undefined, undefined, state!.guarded!.principal);
          counters.set(context, {
            get live() {
              return state!.live;
            },
            set live(n: number) {
              state!.live = n;
            },
            max: wsGuard.maxOperationsPerSocket,
          });
          return { ...params, context };
        },
      ),
    },
    legacy,
  );

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      socket.destroy();
      return;
    }
    if (wsGuard.refuseUpgrade(req, socket)) return;
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const target = protocols.includes('graphql-ws') && !protocols.includes('graphql-transport-ws') ? legacy : modern;
    target.handleUpgrade(req, socket, head, (ws) => target.emit('connection', ws, req));
  };
  httpServer.on('upgrade', onUpgrade);

  return {
    clientCount: () => modern.clients.size + legacy.clients.size,
    shared,
    async close() {
      httpServer.off('upgrade', onUpgrade);
      wsGuard.close();
      legacyServer.close();
      await modernCleanup.dispose();
      for (const ws of legacy.clients) ws.terminate();
      await Promise.all([new Promise((r) => modern.close(r)), new Promise((r) => legacy.close(r))]);
    },
  };
}

/** A refusal as the legacy server answers it: an error carrying `errors` becomes GQL_DATA { errors }. */
function legacyRefusal(errors: readonly GraphQLError[]): Error {
  return Object.assign(new Error(errors[0]!.message), { errors: errors.map((e) => e.toJSON()) });
}
