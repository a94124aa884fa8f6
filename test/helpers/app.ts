import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createApp, type App, type AppOptions } from '../../src/app';
import { loadConfig, type Env } from '../../src/config';
import { deleteRedisPrefix } from './redis';
import { createTestDatabase, type TestDatabase } from './db';

export interface GqlResult<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> & { code?: string } }[];
}

export interface TestApp {
  app: App;
  /** The environment the app was configured from. */
  env: Env;
  /** GET the app's /metrics (on its metrics port, not the API port) as text. */
  scrape(): Promise<string>;
  /** POST a GraphQL operation; `apiKey` sets Authorization: Bearer. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, apiKey?: string): Promise<GqlResult<T>>;
  /** Like gql, but fails the test on errors and returns data. */
  ok<T = any>(query: string, variables?: Record<string, unknown>, apiKey?: string): Promise<T>;
  ws(apiKey?: string): WsClient;
  /** Stops the app and starts a new one on the same database (a restart); `whileDown` runs in between. */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export interface TestAppOptions extends AppOptions {
  env?: Env;
  /**
   * The app's clock; a ManualClock drives every timer of the embedded path (scheduler loops,
   * wake-ups, in-memory lease expiry, the drain's grace: a stop with built-in attempts still
   * running waits SHUTDOWN_GRACE_MS of this clock). A restart keeps it. @default systemClock
   */
  clock?: AppOptions['clock'];
  /** Another replica of this app: same database and Redis prefix (real services only). */
  replicaOf?: TestApp;
  /** Keep the embedded data on disk (restart tests); otherwise `memory://`. */
  persistent?: boolean;
  /** A database the test owns (a private Postgres cluster): used as is, not created nor dropped. */
  databaseUrl?: string;
}

/**
 * An app on a free port against a database of its own (and, with REDIS_URL, a Redis key prefix
 * of its own): what a test file starts in beforeAll.
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const shared = options.replicaOf;
  const db: TestDatabase = shared
    ? { url: shared.env.DATABASE_URL, drop: async () => undefined }
    : options.databaseUrl
      ? { url: options.databaseUrl, drop: async () => undefined }
      : await createTestDatabase();
  if (shared && !db.url) throw new Error('replicas need a real database (DATABASE_URL)');
  const dataDir = db.url || !options.persistent ? 'memory://' : mkdtempSync(join(tmpdir(), 'maestro-test-'));
  const env: Env = {
    NODE_ENV: 'test',
    PORT: '0',
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    DATABASE_URL: db.url,
    REDIS_URL: process.env['REDIS_URL'],
    REDIS_KEY_PREFIX: shared?.env.REDIS_KEY_PREFIX ?? `test-${randomBytes(4).toString('hex')}:`,
    MAESTRO_DATA_DIR: dataDir,
    SCHEDULER_POLL_INTERVAL_MS: '200',
    SHUTDOWN_GRACE_MS: '2000',
    ...options.env,
  };
  let app = await createApp(loadConfig(env), options);
  const clients: WsClient[] = [];

  const gql = async <T>(query: string, variables?: Record<string, unknown>, apiKey?: string): Promise<GqlResult<T>> => {
    const res = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as GqlResult<T>;
  };

  return {
    get app() {
      return app;
    },
    env,
    gql,
    async scrape() {
      const res = await fetch(app.metricsUrl);
      if (!res.ok) throw new Error(`GET ${app.metricsUrl}: ${res.status}`);
      return res.text();
    },
    async ok<T>(query: string, variables?: Record<string, unknown>, apiKey?: string): Promise<T> {
      const result = await gql<T>(query, variables, apiKey);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data as T;
    },
    ws(apiKey?: string) {
      const client = createClient({
        url: app.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
        retryAttempts: 0,
        lazy: true,
      });
      clients.push(client);
      return client;
    },
    async restart(whileDown) {
      await app.stop();
      await whileDown?.();
      app = await createApp(loadConfig(env), options);
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.dispose()));
      await app.stop();
      await db.drop();
      // The prefix belongs to the first replica: it cleans up after its replicas have closed.
      if (!shared && env.REDIS_URL && env.REDIS_KEY_PREFIX) await deleteRedisPrefix(env.REDIS_URL, env.REDIS_KEY_PREFIX);
      if (dataDir !== 'memory://') rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Collects a subscription's results until `until` says stop (or the timeout passes). */
export function collect<T>(
  client: WsClient,
  query: string,
  variables: Record<string, unknown>,
  until: (items: T[]) => boolean,
  timeoutMs = 15_000,
): { done: Promise<T[]>; items: T[]; ready: Promise<void> } {
  const items: T[] = [];
  let cancel: () => void = () => undefined;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const done = new Promise<T[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      cancel();
      reject(new Error(`subscription timed out with ${items.length} items: ${JSON.stringify(items).slice(0, 2000)}`));
    }, timeoutMs);
    cancel = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) {
            clearTimeout(timer);
            reject(new Error(JSON.stringify(value.errors)));
            return;
          }
          items.push(value.data as T);
          if (until(items)) {
            clearTimeout(timer);
            cancel();
            resolve(items);
          }
        },
        error: (e) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(JSON.stringify(e)));
        },
        complete: () => {
          clearTimeout(timer);
          resolve(items);
        },
      },
    );
    client.on('connected', () => resolveReady());
  });
  return { done, items, ready };
}

/** Resolves when `hooks` reports the run finished (or it already has). */
export async function waitForRun(t: TestApp, runId: string, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  const terminal = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
  const finished = new Promise<void>((resolve) => {
    const listener = (e: { runId: string }) => {
      if (e.runId === runId) {
        t.app.hooks.off('run:finished', listener);
        resolve();
      }
    };
    t.app.hooks.on('run:finished', listener);
    setTimeout(() => {
      t.app.hooks.off('run:finished', listener);
      resolve();
    }, timeoutMs).unref();
  });
  const read = async () =>
    (
      await t.ok(`query($id: ID!) { run(id: $id) { id status output error tasks { key status attempt input output error startedAt finishedAt } } }`, {
        id: runId,
      })
    ).run;
  let run = await read();
  if (terminal.has(run.status)) return run;
  await finished;
  run = await read();
  if (!terminal.has(run.status) && Date.now() >= deadline) throw new Error(`run ${runId} did not finish: ${JSON.stringify(run)}`);
  return run;
}
