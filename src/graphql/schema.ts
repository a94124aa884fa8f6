import { createPubSub } from '@graphql-yoga/subscription';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, type MiddlewareFn } from 'type-graphql';
import { readLane } from '../store/read-lane';
import type { Context } from './context';
import { mapError } from './errors';
import { QueueResolver } from './resolvers/queue.resolver';
import { EventResolver } from './resolvers/event.resolver';
import { ApiKeyResolver } from './resolvers/api-key.resolver';
import { RunResolver } from './resolvers/run.resolver';
import { ScheduleResolver } from './resolvers/schedule.resolver';
import { ConcurrencyResolver } from './resolvers/concurrency.resolver';
import { SubscriptionResolver } from './resolvers/subscription.resolver';
import { TaskResolver } from './resolvers/task.resolver';
import { WorkerResolver } from './resolvers/worker.resolver';
import { WorkflowResolver } from './resolvers/workflow.resolver';
import { WAIT_REASON_TYPES } from './types/wait-reason.type';

/**
 * Around every resolver (root fields and field resolvers: plain data fields do not come here), in
 * one middleware that allocates little, as it runs thousands of times in a long read:
 *
 * - Domain errors (and dependency faults, as UNAVAILABLE) become GraphQL errors with their code,
 *   over HTTP and WebSocket alike.
 * - Reads (query and subscription resolvers) run in their tenant's read lane: each statement takes
 *   its connection from that tenant's share of the pool (src/store/read-lane.ts). Mutations do
 *   not: they may start engine work (timers, dispatch) that must not be counted as the tenant's reads.
 * - Each resolved value takes its turn in the operation's slices
 *   (src/primitives/execution-slices.ts), weighing its items (a page of 100 runs: 100): past
 *   FIELDS_PER_SLICE (src/graphql/context.ts) in one turn of the event loop, the completion of
 *   the rest waits for a later turn,
 *   so other requests' I/O runs between the slices of a long read. An operation of fewer never
 *   waits.
 */
const aroundResolvers: MiddlewareFn<Context> = ({ context, info }, next) => {
  let result: Promise<unknown>;
  try {
    const lane = context?.tenantId && info.operation.operation !== 'mutation' ? (context.lane ??= { tenantId: context.tenantId }) : null;
    result = lane ? readLane.run(lane, next) : next();
  } catch (e: unknown) {
    throw mapError(e);
  }
  const slices = context?.slices;
  if (!slices) return result.catch(rethrowMapped);
  return result.then((value) => {
    const turn = slices.next(weightOf(value));
    return turn ? turn.then(() => value) : value;
  }, rethrowMapped);
};

/** What completing a resolved value costs, in the slices' unit: the items of a list or a connection page, else 1. */
function weightOf(value: unknown): number {
  const items = Array.isArray(value) ? value : (value as { nodes?: unknown } | null | undefined)?.nodes;
  return Array.isArray(items) ? Math.max(1, items.length) : 1;
}

function rethrowMapped(e: unknown): never {
  throw mapError(e);
}

/**
 * Object types declare `simpleResolvers: true`: with a global middleware, type-graphql would
 * otherwise run every plain data field through it (async, several promises per field; the read
 * query of bench scenario 5 executed in 48 µs instead of 27). Field resolvers and root fields keep
 * the middleware; test/unit/schema-resolvers.test.ts holds the list.
 */
export async function buildMaestroSchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [
      WorkflowResolver,
      RunResolver,
      TaskResolver,
      WorkerResolver,
      SubscriptionResolver,
      QueueResolver,
      EventResolver,
      ScheduleResolver,
      ConcurrencyResolver,
      ApiKeyResolver,
    ],
    globalMiddlewares: [aroundResolvers],
    // The kinds of WaitReason: fields name only the interface.
    orphanedTypes: WAIT_REASON_TYPES,
    validate: false,
    // Required by type-graphql whenever a schema has subscriptions; ours bring their own
    // `subscribe` (replay + live from the EventBus), so nothing is published through it.
    pubSub: createPubSub(),
  });
  // type-graphql has no option for the root types' descriptions; graphql-js reads them from these
  // fields (printSchema, introspection), so they are set on the built schema.
  for (const [type, description] of [
    [schema.getQueryType(), ROOT_DESCRIPTIONS.query],
    [schema.getMutationType(), ROOT_DESCRIPTIONS.mutation],
    [schema.getSubscriptionType(), ROOT_DESCRIPTIONS.subscription],
  ] as const) {
    if (type) type.description = description;
  }
  return schema;
}

const ROOT_DESCRIPTIONS = {
  query:
    "Reads, always of the caller's tenant (from the API key; `default` without one outside production, else UNAUTHENTICATED). " +
    'Listings are Relay cursor connections.',
  mutation:
    'Writes: register workflows, start, cancel and retry runs, the worker protocol (claim, heartbeat, report), and API keys (admin). ' +
    'Errors carry `extensions.code`: BAD_USER_INPUT (the message says what to fix), NOT_FOUND, CONFLICT, LEASE_LOST, RUN_CANCELLED, UNAUTHENTICATED, FORBIDDEN (admin-only API-key management).',
  subscription: 'Live run events over graphql-ws (or the legacy subscriptions-transport-ws protocol) on the same path as HTTP.',
};

/** The schema as checked in: `schema.graphql`. */
export async function printSchemaSdl(): Promise<string> {
  const { printSchema } = await import('graphql');
  return `# Generated from the code by \`npm run schema\`. Do not edit.\n\n${printSchema(await buildMaestroSchema())}\n`;
}
