import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { execute, subscribe, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { SubscriptionServer } from 'subscriptions-transport-ws';
import { WebSocketServer } from 'ws';
import { DomainError } from '../domain/errors';
import type { Principal } from '../services/auth.service';
import { createContext, type Context, type Services } from './context';
import { mapError } from './errors';
import type { GraphQLGuard } from './guard';
import { graphqlWsGuard, legacyGuard } from './guard-transports';
import { SharedSubscriptions } from './shared-subscriptions';

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
 * The context of an operation over HTTP: the tenant of the caller's API key, and a signal that
 * aborts when the client goes away before its response is sent (ending a long poll). A refused
 * key is a GraphQL error with its HTTP status.
 */
export function httpContext(services: Services): (args: { req: IncomingMessage; res: ServerResponse }) => Promise<Context> {
  return async ({ req, res }) => {
    try {
      const principal = await services.auth.authenticate(req.headers.authorization);
      const gone = new AbortController();
      const onGone: (() => void)[] = [];
      res.once('close', () => {
        if (res.writableFinished) return;
        gone.abort();
        for (const fn of onGone.splice(0)) fn();
      });
      // Registered after the client left: run at once.
      const undelivered = (fn: () => void) => (gone.signal.aborted ? fn() : onGone.push(fn));
      return createContext(services, principal.tenantId, gone.signal, undelivered);
    } catch (e: unknown) {
      throw mapError(e, true);
    }
  };
}

/**
 * Subscriptions on the HTTP server's port and path. Clients speaking `graphql-transport-ws`
 * (graphql-ws, the current protocol) get graphql-ws; GraphQL Playground still speaks the legacy
 * `graphql-ws` subprotocol of subscriptions-transport-ws, which is served beside it so that the
 * landing page's subscriptions work too. Both authenticate in `connection_init` (`authorization`).
 */
export function attachWebSockets(opts: {
  httpServer: Server;
  path: string;
  schema: GraphQLSchema;
  services: Services;
  /** Parse, validation, limits and error masking: the same as on HTTP (src/graphql/guard.ts). */
  guard: GraphQLGuard;
}): WebSocketTransports {
  const { httpServer, path, schema, services, guard } = opts;
  const modern = new WebSocketServer({ noServer: true });
  const legacy = new WebSocketServer({ noServer: true });
  const shared = new SharedSubscriptions(undefined, { parse: guard.parse, validate: guard.validate });

  const modernCleanup = useServer<Record<string, unknown>, { principal?: Principal }>(
    {
      schema,
      ...graphqlWsGuard(guard, schema, shared),
      subscribe: shared.subscribe,
      onConnect: async (ctx) => {
        try {
          ctx.extra.principal = await services.auth.authenticate(authorizationOf(ctx.connectionParams));
          // graphql-ws keeps the upgrade request for the socket's life and nothing here reads it
          // after authentication: ~1.5 KB of headers per idle subscriber (bench scenario 6).
          delete (ctx.extra as { request?: unknown }).request;
          return true;
        } catch (e: unknown) {
          if (e instanceof DomainError) return false;
          throw e;
        }
      },
      context: (ctx) => createContext(services, ctx.extra.principal!.tenantId),
    },
    modern,
  );

  const legacyServer = new SubscriptionServer(
    {
      schema,
      execute,
      subscribe,
      keepAlive: 15_000,
      // The guard validates (in onOperation); the server's own pass would only repeat it.
      validationRules: [],
      onConnect: async (params: ConnectionParams) => {
        const principal = await services.auth.authenticate(authorizationOf(params));
        return { principal };
      },
      onOperation: legacyGuard(guard, schema, (_message: unknown, params: { query: unknown; context: { principal: Principal } }) => ({
        ...params,
        context: createContext(services, params.context.principal.tenantId),
      })),
    },
    legacy,
  );

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) {
      socket.destroy();
      return;
    }
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
      legacyServer.close();
      await modernCleanup.dispose();
      for (const ws of legacy.clients) ws.terminate();
      await Promise.all([new Promise((r) => modern.close(r)), new Promise((r) => legacy.close(r))]);
    },
  };
}
