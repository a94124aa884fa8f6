/**
 * Scenario 5: the GraphQL read path. `run(id) { status tasks { key status output } }` at 64
 * concurrent connections (autocannon), against the same query served by a bare graphql-http
 * handler on a plain node http server over the same schema object, services and per-request
 * context (createContext). The server side runs in a child process (its own core); autocannon
 * runs here.
 */
import autocannon from 'autocannon';
import type { Scenario, Side } from '../lib/harness';
import { forkServer } from '../lib/child';
import type { ServerMode } from '../lib/bench-server';
import { benchPrefix, packageVersion } from '../lib/services';

const CONNECTIONS = 64;
const STEPS = 5;
const QUERY = 'query Read($id: ID!) { run(id: $id) { status tasks { key status output } } }';

function side(name: string, role: Side['role'], mode: ServerMode, settings: Record<string, unknown>): Side {
  return {
    name,
    role,
    settings: { ...settings, connections: CONNECTIONS, query: QUERY, tasksPerRun: STEPS },
    async sample(ctx) {
      // Raw read throughput against the peers: one tenant's request rate, cost budget and cap on
      // cost in flight (the tenant limits; scenario 7 measures them) answer this flood 429.
      const env = { RATE_LIMIT_PER_TENANT: '0', RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_COST_PER_TENANT: '0', TENANT_MAX_EXECUTING_COST: '0' };
      const server = await forkServer({
        mode,
        postgresUrl: ctx.postgresUrl,
        redisUrl: ctx.redisUrl,
        redisKeyPrefix: benchPrefix('read'),
        seedSteps: STEPS,
        env,
      });
      try {
        const body = JSON.stringify({ query: QUERY, variables: { id: server.runId }, operationName: 'Read' });
        const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
        // Both servers must answer the same data, or the comparison is void.
        const res = await fetch(server.url, { method: 'POST', headers, body });
        const json = (await res.json()) as { data?: { run?: { status: string; tasks: unknown[] } }; errors?: unknown };
        if (json.data?.run?.status !== 'SUCCEEDED' || json.data.run.tasks.length !== STEPS) {
          throw new Error(`${name} answered ${JSON.stringify(json)}`);
        }
        const load = (duration: number) => autocannon({ url: server.url, connections: CONNECTIONS, duration, method: 'POST', headers, body });
        await load(ctx.scale(2, 1)); // warm-up: JIT, pools, caches
        const before = await server.stats();
        const r = await load(ctx.scale(10, 3));
        const after = await server.stats();
        if (r.errors || r.timeouts || r.non2xx) throw new Error(`${name}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx`);
        // Server CPU per request: what a shared, busy machine disturbs least.
        return { rps: r['2xx'] / r.duration, p50: r.latency.p50, p99: r.latency.p99, cpuPerRequest: (after.cpuMicros - before.cpuMicros) / r['2xx'] };
      } finally {
        await server.stop();
      }
    },
  };
}

export const graphqlRead: Scenario = {
  id: '5',
  title: `GraphQL read path (${CONNECTIONS} connections)`,
  metrics: [
    { key: 'rps', label: 'requests per second', unit: 'req/s', better: 'higher' },
    { key: 'p50', label: 'latency p50', unit: 'ms', better: 'lower' },
    { key: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
    { key: 'cpuPerRequest', label: 'server CPU per request', unit: 'µs', better: 'lower' },
  ],
  sides: () => [
    side('maestro (Apollo + express)', 'ours', 'maestro', { server: `@apollo/server ${packageVersion('@apollo/server')} + express 5` }),
    side('bare graphql-http', 'baseline', 'graphql-http', {
      server: `graphql-http ${packageVersion('graphql-http')} on node:http`,
      context: 'createContext per request',
    }),
  ],
};
