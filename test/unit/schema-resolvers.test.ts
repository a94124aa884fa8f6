import 'reflect-metadata';
import { GraphQLObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildMaestroSchema } from '../../src/graphql/schema';

/**
 * Plain data fields resolve with graphql's default resolver. type-graphql would otherwise wrap
 * every field in the global middleware chain (an async function and several promises per field
 * per object: `run(id) { status tasks { key status output } }` executed in 48 µs instead of 27, and
 * a live event paid it once per subscriber), so every object type declares `simpleResolvers: true`. Only field resolvers keep
 * the middleware (domain errors mapped to codes).
 */
describe('schema resolvers', () => {
  it('wraps only field resolvers and root fields, never plain data fields', async () => {
    const schema = await buildMaestroSchema();
    const wrapped: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!(type instanceof GraphQLObjectType) || type.name.startsWith('__')) continue;
      if (type === schema.getQueryType() || type === schema.getMutationType() || type === schema.getSubscriptionType()) continue;
      for (const field of Object.values(type.getFields())) if (field.resolve) wrapped.push(`${type.name}.${field.name}`);
    }
    expect(wrapped.sort()).toEqual(
      [
        'Run.children',
        'Run.events',
        'Run.parent',
        'Run.parentTask',
        'Run.tasks',
        'Run.waitingFor',
        'Run.workflow',
        'Schedule.nextFireTimes',
        'Schedule.recentFires',
        'Schedule.recentRuns',
        'Task.attempts',
        'Task.childRun',
        'Task.traceparent',
        'Task.waitingFor',
        'TaskLease.task',
      ].sort(),
    );
  });
});
