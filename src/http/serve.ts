/**
 * The API's transport: the express routes (hygiene, metrics, health, playground or its
 * off page, /ui, /hooks, /graphql with admission) and GraphQL over WebSockets, on the one
 * HTTP server the composition root (app.ts) listens with. app.ts builds the backends and
 * services; this module only wires them to HTTP and WebSocket.
 */
import type { RequestListener, Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import type { Gatekeeper } from '../access/gatekeeper';
import type { RateLimits } from '../access/rate-limits';
import type { Config } from '../config';
import type { Limits } from '../config/limits';
import { systemClock, type Clock } from '../domain/clock';
import { coerceError, RateLimitedError } from '../domain/errors';
import type { EventBus } from '../events/event-bus';
import type { Services } from '../graphql/context';
import { costChargePlugin } from '../graphql/cost-charge';
import { unavailableStatusPlugin } from '../graphql/errors';
import { GraphQLGuard } from '../graphql/guard';
import { bodyErrorHandler } from '../graphql/http-body-errors';
import { PLAYGROUND_BUILD_MOUNT, playgroundAssets, playgroundLandingPage } from '../graphql/playground';
import { buildMaestroSchema } from '../graphql/schema';
import { attachWebSockets, httpContext, type WebSocketTransports } from '../graphql/transports';
import { WsGuard } from '../graphql/ws-guard';
import { graphqlMetricsPlugin, httpMetrics } from '../observability/http-metrics';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { healthEndpoints } from '../observability/ops-endpoints';
import { BusyShares, watchEventLoop } from '../primitives/busy-shares';
import { KeyedSlots } from '../primitives/keyed-slots';
import { HttpAdmission } from './admission';
import { BrowserAccess } from './browser-access';
import { CONSOLE_PATH, consoleRoutes } from './console';
import { applyHttpHygiene } from './hygiene';
import { playgroundOffPage } from './playground-off';
import { webhookRouter } from './webhooks';

export const GRAPHQL_PATH = '/graphql';
/** A request waiting for its tenant's turn on a busy replica is refused after this long, or when this many wait. */
const BUSY_MAX_WAIT_MS = 10_000;
const BUSY_MAX_QUEUED = 1_000;

/** What the transport needs from the composition root. */
export interface ApiTransportInput {
  /** The server already listening (it answers start-up probes until `handler` takes over). */
  httpServer: Server;
  config: Pick<Config, 'env' | 'corsOrigins' | 'allowedHosts' | 'playgroundEnabled' | 'trustProxy' | 'readinessTimeoutMs' | 'webhookReplayWindowMs'>;
  limits: Limits;
  services: Services;
  gatekeeper: Gatekeeper;
  rates: RateLimits;
  /** Announces revoked API keys (from any replica). */
  bus: Pick<EventBus, 'onRevoked'>;
  clock: Clock;
  logger: Logger;
  /** Built before the transport; its subscriptions gauge reads {@link ApiTransport.subscriptions}. */
  metrics: Metrics;
  /** /readyz: one check per dependency. */
  readiness: Record<string, () => Promise<void>>;
  /** False once draining: /readyz answers 503. */
  accepting: () => boolean;
}

export interface ApiTransport {
  /** The express app: the request listener once start-up is done. */
  readonly handler: RequestListener;
  /** Open WebSocket clients. */
  subscriptions(): number;
  /** Requests executing and waiting for their tenant's turn while the replica is busy (TENANT_REQUESTS_WHEN_BUSY). */
  busyShares(): { executing: number; waiting: number };
  /** Stops reacting to revoked keys; the first step of a drain. */
  detach(): void;
  /** Closes the WebSockets, then Apollo's drain stops the server and finishes in-flight requests. */
  stop(): Promise<void>;
}

/** HTTP + WebSocket on one port and path. */
export async function serveApi(input: ApiTransportInput): Promise<ApiTransport> {
  const { httpServer, config, limits, services, gatekeeper, rates, clock, logger, metrics } = input;
  const { auth, events, webhookSecrets } = services;
  const schema = await buildMaestroSchema();
  const expressApp = express();
  expressApp.disable('x-powered-by');
  // Express hashes every res.send body for a weak ETag (sha1 of each GraphQL response) and
  // parses conditional headers for it; POST responses are never revalidated. Static assets keep
  // theirs (serve-static sets its own).
  expressApp.set('etag', false);
  const browser = new BrowserAccess({ corsOrigins: config.corsOrigins, allowedHosts: config.allowedHosts, production: config.env === 'production' });
  applyHttpHygiene(expressApp, { browser, graphqlPath: GRAPHQL_PATH, playground: config.playgroundEnabled, trustProxy: config.trustProxy });
  // One parse, validation, limits and error masking for HTTP and both WebSocket protocols.
  const guard = new GraphQLGuard({
    limits: limits.graphql,
    production: config.env === 'production',
    onInternal: (e) => logger.error({ err: coerceError(e) }, 'unexpected error in a GraphQL operation'),
  });
  // Each tenant's share of this replica while its event loop is busy, on every transport.
  const shares = new BusyShares({
    perTenant: limits.tenantRequestsWhenBusy,
    busyAt: limits.busyEventLoopPercent / 100,
    maxWaitMs: BUSY_MAX_WAIT_MS,
    maxQueued: BUSY_MAX_QUEUED,
    // The wall clock, as the event loop's utilization is measured on: a test's manual clock
    // would keep tenants sending and waiters unrefused for ever.
    clock: systemClock,
    refuse: (why) => {
      metrics.rateLimited.inc({ scope: 'busy' });
      const max = limits.tenantRequestsWhenBusy;
      return new RateLimitedError(
        `This replica is busy and this tenant already has ${max} request(s) executing on it and ${why === 'waited' ? `this one waited ${BUSY_MAX_WAIT_MS} ms` : `${BUSY_MAX_QUEUED} waiting`} for a turn: retry in 1000 ms, or send fewer requests at once`,
        { retryAfterMs: 1_000, limit: 'TENANT_REQUESTS_WHEN_BUSY', max },
      );
    },
  });
  const unwatchLoop = limits.tenantRequestsWhenBusy > 0 ? watchEventLoop(shares) : () => undefined;
  // Connection-level limits of WebSockets: origins, credentials re-checked, caps.
  const wsGuard = new WsGuard({
    gatekeeper,
    browser,
    limits,
    stillActive: (ids) => auth.stillActive(ids),
    onError: (e) => logger.warn({ err: coerceError(e) }, 're-checking the API keys of open WebSockets failed'),
  });
  // A key revoked on any replica: forget cached credentials, close its sockets here.
  const offRevoked = input.bus.onRevoked((apiKeyId) => {
    auth.forgetCached();
    wsGuard.revoked(apiKeyId);
  });
  const ws: WebSocketTransports = attachWebSockets({
    httpServer,
    path: GRAPHQL_PATH,
    schema,
    services,
    guard,
    wsGuard,
    maxPayload: limits.requestBodyMaxBytes,
    initTimeoutMs: limits.wsInitTimeoutMs,
    shares,
  });
  expressApp.use(httpMetrics(metrics));
  expressApp.use(healthEndpoints({ timeoutMs: config.readinessTimeoutMs, readiness: input.readiness, accepting: input.accepting }));
  const apollo = new ApolloServer({
    schema,
    formatError: guard.formatError,
    parseOptions: guard.parseOptions,
    validationRules: [...guard.validationRules],
    // The guard's rules refuse introspection when it is off (GRAPHQL_INTROSPECTION), on every transport.
    introspection: true,
    // Shutdown order is ours (server.ts): Apollo would otherwise stop itself and re-raise the signal.
    stopOnTerminationSignals: false,
    // Compact JSON, as the WebSocket transports send it: Apollo pretty-prints by default (two
    // spaces a level). Nine pages of 100 runs with their tasks and events were 600 KB instead of
    // 253 KB to build, encode and send (2.4 ms against 1.8 ms of one synchronous block). The
    // response size cap is checked on the string (GRAPHQL_MAX_RESPONSE_BYTES).
    stringifyResult: (result) => guard.stringifyResult(result),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      graphqlMetricsPlugin(metrics),
      unavailableStatusPlugin(),
      costChargePlugin({
        charge: (tenantId, cost) => gatekeeper.chargeCost(tenantId, cost),
        executing: limits.tenantMaxExecutingCost > 0 ? new KeyedSlots(limits.tenantMaxExecutingCost) : null,
        onBusy: () => metrics.rateLimited.inc({ scope: 'executing_cost' }),
      }),
      // Apollo installs cache control by default: a willResolveField hook on every field of every
      // request, for hints (@cacheControl) this schema never gives. Off, Apollo's part of the
      // bench scenario 5 read fell from 110 to 80 µs CPU. Usage reporting would start on an
      // APOLLO_KEY in the environment.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      config.playgroundEnabled ? playgroundLandingPage({ endpoint: GRAPHQL_PATH }) : ApolloServerPluginLandingPageDisabled(),
    ],
  });
  await apollo.start();

  if (config.playgroundEnabled) expressApp.use(PLAYGROUND_BUILD_MOUNT, playgroundAssets());
  else expressApp.get(GRAPHQL_PATH, playgroundOffPage());
  // The web console: static files that call /graphql with the user's key (src/http/console.ts).
  expressApp.use(CONSOLE_PATH, consoleRoutes());
  // Signed events from outside systems: POST /hooks/:tenant/:name (README "Events and webhooks").
  expressApp.use(
    webhookRouter({
      events,
      secrets: webhookSecrets,
      gatekeeper,
      rates,
      clock,
      log: logger,
      maxBodyBytes: limits.maxInputBytes,
      replayWindowMs: config.webhookReplayWindowMs,
      onRefused: (reason) => metrics.webhookRefusals.inc({ reason }),
    }),
  );
  // Authentication, request rates and the tenant's cost budget before the body is read.
  const admission = new HttpAdmission({ gatekeeper, shares, maxBodyBytes: limits.requestBodyMaxBytes, formatError: guard.formatError });
  expressApp.use(
    GRAPHQL_PATH,
    admission.middleware(),
    express.json({ limit: limits.requestBodyMaxBytes }),
    expressMiddleware(apollo, { context: httpContext(services, gatekeeper, admission) }),
  );
  expressApp.use(bodyErrorHandler(logger));

  return {
    handler: expressApp,
    subscriptions: () => ws.clientCount(),
    busyShares: () => shares.counts(),
    detach: offRevoked,
    stop: async () => {
      unwatchLoop();
      await ws.close();
      // Apollo's drain plugin: stop accepting connections, finish in-flight requests.
      await apollo.stop();
    },
  };
}
