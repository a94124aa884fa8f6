import 'reflect-metadata';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Gatekeeper } from './access/gatekeeper';
import { RateLimits } from './access/rate-limits';
import { readShares, type Config } from './config';
import { limitsFromConfig } from './config/limits';
import { systemClock, type Clock } from './domain/clock';
import { coerceError } from './domain/errors';
import { readTurns } from './store/read-lane';
import type { EventBus } from './events/event-bus';
import { MemoryEventBus } from './events/memory-event-bus';
import type { LeaseStore } from './leases/lease-store';
import { MemoryLeaseStore } from './leases/memory-lease-store';
import { RedisLeaseStore } from './leases/redis-lease-store';
import { RedisEventBus } from './events/redis-event-bus';
import { builtInExecutors } from './executors';
import type { Resolver } from './executors/http';
import type { Services } from './graphql/context';
import { conductorOrigin } from './http/conductor-origin';
import { GRAPHQL_PATH, serveApi, type ApiTransport } from './http/serve';
import { createLogger, type Logger } from './observability/logger';
import { createMetrics, type Metrics } from './observability/metrics';
import { check, startingHandler, startMetricsServer, type StartingState } from './observability/ops-endpoints';
import { logRunLifecycle } from './observability/run-logs';
import { Scheduler } from './scheduler/scheduler';
import type { ScheduleLoop } from './scheduler/schedule-loop';
import { createSchedules } from './services/schedules.module';
import { AuthService } from './services/auth.service';
import { EngineHooks } from './domain/hooks';
import { traceRunLifecycle } from './observability/run-spans';
import { Engine } from './services/engine';
import type { LocalDispatch } from './scheduler/ports';
import { RunEventsService } from './services/run-events.service';
import { RunsService } from './services/runs.service';
import { ConcurrencyService } from './services/concurrency.service';
import { GatedTasksHint } from './store/concurrency.store';
import { TenantQuotas } from './services/quotas';
import { TasksService } from './services/tasks.service';
import { QueuePolls } from './services/queue-polls';
import { QueuesService } from './services/queues.service';
import { WaitsService } from './services/waits.service';
import { WorkflowsService } from './services/workflows.service';
import { EVENT_PRUNE_INTERVAL_MS, EventsService } from './services/events.service';
import { Every } from './scheduler/every';
import { WebhookSecretsService } from './services/webhook-secrets.service';
import { createDataSource, runMigrations } from './store/data-source';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './store/embedded';
import { clusterCounts } from './store/metrics.store';
import { Database } from './store/sql';
import { postgresTarget, redisTarget, type StartupError, type Target } from './startup/describe';
import { waitFor } from './startup/wait-for';

export { GRAPHQL_PATH };

export interface App {
  readonly config: Config;
  /** http://host:port/graphql */
  readonly url: string;
  readonly port: number;
  /** http://host:metricsPort/metrics: the metrics listener, apart from the API port. */
  readonly metricsUrl: string;
  readonly metricsPort: number;
  readonly services: Services;
  readonly hooks: EngineHooks;
  readonly db: Database;
  readonly bus: EventBus;
  readonly scheduler: Scheduler;
  /** The schedules' pass (cron fires, buffered fires, backfills). */
  readonly scheduleLoop: ScheduleLoop;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Drain: stop taking work, finish in-flight requests and attempts, close everything. */
  stop(): Promise<void>;
}

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
  /** Jitter for retry backoff (tests pin it). */
  random?: () => number;
  /** Leave the scheduler stopped until `app.scheduler.start()` (benchmarks pre-submit work). @default false */
  paused?: boolean;
  /**
   * Wraps the event bus every component uses (a test observes publishes through a decorator);
   * the app still closes the bus it built. @default the bus as built
   */
  wrapBus?: (bus: EventBus) => EventBus;
  /** Resolves the host names of http steps (tests map names to loopback addresses). @default the system resolver */
  httpResolver?: Resolver;
  /**
   * Child runs' chained transitions right after a commit; false leaves them all to the sweep, as
   * a crash between a commit and its follow-up would (crash-recovery tests). @default true
   */
  childFollowUps?: boolean;
}

/** The composition root: builds every component from the config, starts them, and knows how to stop them. */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const replicaId = `${hostname()}:${process.pid}`;
  const limits = limitsFromConfig(config);
  const closers: { name: string; close: () => Promise<unknown> }[] = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) {
      await c.close().catch((e: unknown) => logger.warn({ err: coerceError(e) }, `closing ${c.name} failed`));
    }
  };

  try {
    // The API port listens first, so that while start-up waits for Postgres and Redis
    // (STARTUP_WAIT_MS) /healthz answers (no liveness restarts) and /readyz says what it waits for.
    const starting: StartingState = {};
    let handler: RequestListener = startingHandler(() => starting);
    const httpServer: Server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, config.host, () => {
        httpServer.off('error', reject);
        resolve();
      });
    });
    closers.push({
      name: 'http server',
      // Normally Apollo's drain plugin has closed it already; this covers a failed start.
      close: () => (httpServer.listening ? new Promise<void>((resolve) => httpServer.close(() => resolve())) : Promise.resolve()),
    });
    const port = (httpServer.address() as AddressInfo).port;
    const ownOrigin = conductorOrigin(config.host, port);
    const dependency = <T>(check: string, target: Target, connect: () => Promise<T>): Promise<T> => {
      starting[check] = `connecting to ${target.dependency} (${target.variable})`;
      return waitFor({
        target,
        connect,
        waitMs: config.startupWaitMs,
        onRetry: (error: StartupError, retryInMs: number) => {
          starting[check] = error.message;
          logger.warn(
            {
              dependency: target.dependency,
              variable: target.variable,
              host: target.host,
              port: target.port,
              reason: error.reason,
              retryInMs,
              error: error.message,
            },
            'start-up: waiting for a dependency',
          );
        },
      }).then((value) => {
        delete starting[check];
        return value;
      });
    };

    // Storage: the configured Postgres, or embedded PGlite (one connection: it is one session).
    let embedded: EmbeddedPostgres | null = null;
    let url = config.databaseUrl;
    if (!url) {
      embedded = await startEmbeddedPostgres(config.dataDir);
      closers.push({ name: 'embedded postgres', close: () => embedded!.stop() });
      url = embedded.url;
      logger.info({ dataDir: config.dataDir }, 'using embedded PGlite (set DATABASE_URL for a Postgres server)');
    }
    const dataSourceOptions = {
      url,
      poolSize: embedded ? 1 : config.databasePoolSize,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      applicationName: `maestro:${replicaId}`,
      // PGlite is one session in this process: a statement timeout there would guard nothing shared.
      statementTimeoutMs: embedded ? 0 : limits.databaseStatementTimeoutMs,
    };
    const dataSource = embedded
      ? await createDataSource(dataSourceOptions).initialize()
      : await dependency('database', postgresTarget(url), async () => {
          const ds = createDataSource(dataSourceOptions);
          try {
            return await ds.initialize();
          } catch (e: unknown) {
            if (ds.isInitialized) await ds.destroy().catch(() => undefined);
            throw e;
          }
        });
    closers.push({ name: 'database', close: () => dataSource.destroy() });
    const applied = await runMigrations(dataSource);
    if (applied.length) logger.info({ migrations: applied }, 'applied migrations');
    const db = new Database(dataSource, !embedded, readTurns(readShares(config, dataSourceOptions.poolSize), config.databaseConnectTimeoutMs));

    const redisUrl = config.redisUrl;
    const backendBus: EventBus = redisUrl
      ? await dependency('redis', redisTarget(redisUrl), () => RedisEventBus.connect(redisUrl, config.redisKeyPrefix))
      : new MemoryEventBus();
    closers.push({ name: 'event bus', close: () => backendBus.close() });
    const bus = options.wrapBus?.(backendBus) ?? backendBus;
    const leases: LeaseStore = redisUrl
      ? await dependency('redis', redisTarget(redisUrl), () => RedisLeaseStore.connect(redisUrl, config.redisKeyPrefix))
      : new MemoryLeaseStore(clock);
    closers.push({ name: 'lease store', close: () => leases.close() });
    if (!config.redisUrl) logger.info('using in-process events (set REDIS_URL to run several replicas)');

    const hooks = new EngineHooks();
    logRunLifecycle(hooks, logger);
    traceRunLifecycle(hooks);
    const onPublishError = (e: unknown) => logger.warn({ err: coerceError(e) }, 'publishing events failed; subscribers will catch up from history');
    const workflows = new WorkflowsService(db, limits);
    const workerId = `conductor:${replicaId}`;
    // The engine hands eagerly claimed built-in tasks to the scheduler, which drives the engine:
    // the engine's port forwards to the scheduler built just below.
    // eslint-disable-next-line prefer-const -- bound below, once the scheduler exists; read only later, by the engine
    let dispatchTo: LocalDispatch | undefined;
    const local: LocalDispatch = {
      workerId,
      leaseMs: config.leaseTtlMs,
      reserve: (n, forStart) => dispatchTo?.reserve(n, forStart) ?? 0,
      unreserve: (n) => dispatchTo?.unreserve(n),
      admit: (tenantId, type) => dispatchTo?.admit(tenantId, type) ?? false,
      unadmit: (tenantId, type) => dispatchTo?.unadmit(tenantId, type),
      take: (claimed) => dispatchTo?.take(claimed),
    };
    // Shared: starts that write gated tasks tell this replica's claims to look for them at once.
    const gatedTasks = new GatedTasksHint();
    const engine = new Engine({
      gatedTasks,
      local,
      db,
      workflows,
      bus,
      leases,
      clock,
      hooks,
      onPublishError,
      random: options.random,
      groupCommits: embedded ? 1 : Math.max(1, Math.min(4, config.databasePoolSize - 2)),
      limits,
      children: { maxDepth: limits.maxWorkflowDepth, maxActiveRuns: limits.tenantMaxActiveRuns, maxQueuedTasks: limits.tenantMaxQueuedTasks },
      priorityAgingMs: config.priorityAgingMs,
      childFollowUps: options.childFollowUps,
    });
    // eslint-disable-next-line prefer-const -- bound below, once the registry exists; read only at request time
    let metrics: Metrics | undefined;
    const queuePolls = new QueuePolls({ db, clock });
    const tasks = new TasksService({
      db,
      engine,
      leases,
      bus,
      clock,
      hooks,
      leaseTtlMs: config.leaseTtlMs,
      longPollsPerTenant: limits.longPollsPerTenant,
      onLongPollRefused: () => metrics?.rateLimited.inc({ scope: 'long_poll' }),
      queuePolls,
    });
    const waits = new WaitsService({ polls: queuePolls, leases, clock, noWorkerAfterMs: config.noWorkerAfterMs });
    const quotas = new TenantQuotas({ db, clock, maxActiveRuns: limits.tenantMaxActiveRuns, maxQueuedTasks: limits.tenantMaxQueuedTasks });
    const concurrency = new ConcurrencyService({ db, clock, gatedTasks });
    const runs = new RunsService({ db, workflows, engine, clock, limits, quotas, maxForEachItems: limits.maxForEachItems, concurrency });
    const runEvents = new RunEventsService({ bus, runs });
    const auth = new AuthService({ db, clock, allowAnonymous: config.allowAnonymous, announceRevoked: (ids) => bus.announceRevoked(ids) });
    const rates = await RateLimits.create({
      perKey: limits.rateLimitPerKey,
      perTenant: limits.rateLimitPerTenant,
      authFailuresPerIp: limits.authFailuresPerIp,
      costPerTenant: limits.rateLimitCostPerTenant,
      maxOperationCost: limits.graphql.maxCost,
      redisUrl: config.redisUrl,
      redisKeyPrefix: config.redisKeyPrefix,
    });
    closers.push({ name: 'rate limits', close: () => rates.close() });
    const gatekeeper = new Gatekeeper({
      auth,
      rates,
      log: logger,
      trustProxy: config.trustProxy,
      observer: {
        authFailed: (reason) => metrics?.authFailures.inc({ reason }),
        rateLimited: (scope) => metrics?.rateLimited.inc({ scope }),
      },
    });
    const events = new EventsService({ db, runs, clock, limits, hooks });
    const eventPrune = new Every(clock, EVENT_PRUNE_INTERVAL_MS, (now) =>
      events.prune(now, config.eventRetentionMs).then(
        () => undefined,
        (e: unknown) => logger.warn({ err: coerceError(e) }, 'pruning old events failed; the next pass tries again'),
      ),
    );
    const webhookSecrets = new WebhookSecretsService({ db, clock });
    const {
      service: schedules,
      loop: scheduleLoop,
      secondsUntilNextFire,
    } = createSchedules({
      db,
      runs,
      workflows,
      clock,
      hooks,
      log: logger,
      pollIntervalMs: config.schedulerPollIntervalMs,
      limits: { maxSchedules: config.tenantMaxSchedules, backfillMax: config.scheduleBackfillMax, ...limits },
    });
    const services: Services = {
      workflows,
      runs,
      runEvents,
      auth,
      tasks,
      waits,
      queues: new QueuesService({ db }),
      events,
      webhookSecrets,
      schedules,
      concurrency,
    };
    if (config.allowAnonymous) {
      logger.warn('development mode: requests without an API key act as tenant "default" (NODE_ENV=production requires keys)');
    }

    const scheduler = new Scheduler({
      engine,
      leases: {
        renew: (lease, ttlMs) => tasks.heartbeat(lease, ttlMs),
        reap: () => tasks.reap(),
        sweepOrphans: () => tasks.sweepOrphans(),
      },
      leaseTtlMs: config.leaseTtlMs,
      reaperIntervalMs: config.reaperIntervalMs,
      orphanSweepIntervalMs: config.orphanSweepIntervalMs,
      executors: builtInExecutors({
        defaultTimeoutMs: config.httpStepDefaultTimeoutMs,
        policy: { allow: config.httpStepAllow, deny: config.httpStepDeny, ports: config.httpStepPorts },
        limits: {
          maxTimeoutMs: limits.httpStepMaxTimeoutMs,
          maxResponseBytes: limits.httpStepMaxResponseBytes,
          maxRequestBytes: limits.httpStepMaxRequestBytes,
          maxRedirects: limits.httpStepMaxRedirects,
        },
        resolve: options.httpResolver,
        conductorOrigin: ownOrigin,
      }),
      clock,
      log: logger,
      workerId,
      concurrency: config.dispatchConcurrency,
      tenantConcurrency: config.dispatchTenantConcurrency,
      tenantHttpConcurrency: config.httpStepTenantConcurrency,
      pollIntervalMs: config.schedulerPollIntervalMs,
    });
    dispatchTo = scheduler;
    hooks.on('timer:armed', (e) => scheduler.armTimer(e.at));
    // Built-in work became ready: dispatch. Timers arm themselves (`timer:armed`), so a ready
    // signal needs no timer pass (it cost five queries per step of every run).
    const offReady = bus.onReady((queue, builtIn) => {
      if (queue !== null) return;
      if (builtIn) scheduler.wakeFor(builtIn);
      else scheduler.wake();
    });

    // eslint-disable-next-line prefer-const -- bound below, once the transport exists; read only when metrics are collected
    let transport: ApiTransport | undefined;
    metrics = createMetrics(
      hooks,
      {
        clusterGauges: () => {
          const now = clock.now();
          return clusterCounts(db, { now, unpolledSince: new Date(now.getTime() - config.noWorkerAfterMs) });
        },
        nextScheduleFire: secondsUntilNextFire,
        subscriptions: () => transport?.subscriptions() ?? 0,
        busyShares: () => transport?.busyShares() ?? { executing: 0, waiting: 0 },
        pool: () => db.poolStats(),
        redisUp: async () => (config.redisUrl ? ((await check('redis', () => leases.ping(), config.readinessTimeoutMs)).ok ? 1 : 0) : null),
      },
      { labelValuesMax: config.metricsLabelValuesMax },
    );
    let accepting = true;
    transport = await serveApi({
      httpServer,
      config,
      limits,
      services,
      gatekeeper,
      rates,
      bus,
      clock,
      logger,
      metrics,
      readiness: {
        database: () => db.ping(),
        [config.redisUrl ? 'redis' : 'events']: () => Promise.all([bus.ping(), leases.ping()]).then(() => undefined),
      },
      accepting: () => accepting,
    });

    const metricsServer = await startMetricsServer({ metrics, host: config.host, port: config.metricsPort });
    closers.push({ name: 'metrics server', close: () => metricsServer.close() });
    handler = transport.handler;
    if (!options.paused) {
      scheduler.start();
      scheduleLoop.start();
    }
    eventPrune.start();
    logger.info(
      { port, path: GRAPHQL_PATH, metricsPort: metricsServer.port },
      `Maestro Conductor listening on http://localhost:${port}${GRAPHQL_PATH} (metrics on port ${metricsServer.port})`,
    );

    let stopping: Promise<void> | null = null;
    const stop = () =>
      (stopping ??= (async () => {
        accepting = false;
        logger.info({ graceMs: config.shutdownGraceMs }, 'draining');
        offReady();
        transport.detach();
        tasks.stopWaiting();
        // Stop taking work first; in-flight attempts get the grace period, then are abandoned
        // (their leases expire and another replica reclaims them).
        await scheduleLoop.stop();
        await scheduler.stop(config.shutdownGraceMs);
        await eventPrune.stop();
        await transport.stop();
        await closeAll();
        logger.info('stopped');
      })());

    const loopback = (p: number) => `http://${config.host.includes(':') ? '[::1]' : '127.0.0.1'}:${p}`;
    return {
      config,
      url: `${loopback(port)}${GRAPHQL_PATH}`,
      port,
      metricsUrl: `${loopback(metricsServer.port)}/metrics`,
      metricsPort: metricsServer.port,
      services,
      hooks,
      db,
      bus,
      scheduler,
      scheduleLoop,
      logger,
      metrics,
      stop,
    };
  } catch (e: unknown) {
    await closeAll();
    throw e;
  }
}
