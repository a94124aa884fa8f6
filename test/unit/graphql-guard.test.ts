import 'reflect-metadata';
import { parse, validate, type GraphQLSchema } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { exceedsJsonBytes, GraphQLGuard, operationBudgetRule, withoutSuggestions } from '../../src/graphql/guard';
import { buildMaestroSchema } from '../../src/graphql/schema';

/** The schema-aware cost of src/graphql/guard.ts, table-driven against the real schema. */
describe('operationBudgetRule', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildMaestroSchema();
  });
  const costOf = (query: string) => {
    const errors = validate(schema, parse(query), [operationBudgetRule({ maxCost: 0, maxLongPolls: 1 })]);
    const cost = errors.find((e) => e.extensions['limit'] === 'GRAPHQL_MAX_COST');
    return cost ? (cost.extensions['actual'] as number) : 0;
  };

  it.each([
    ['a scalar field of a single object', `query { run(id: "x") { id status } }`, 1],
    ['a default page (20) of runs', `query { runs { nodes { id } } }`, 21],
    ['first: 100', `query { runs(first: 100) { nodes { id } } }`, 101],
    ['last: 5 through edges', `query { runs(last: 5) { edges { node { id } } pageInfo { hasNextPage } } }`, 1 + 5 * 2 + 1],
    ['a page size from a variable counts 100', `query($n: Int) { runs(first: $n) { nodes { id } } }`, 101],
    ['an unbounded list counts 10', `query { runs(first: 100) { nodes { events { seq } } } }`, 1101],
    ['finding 3 ×40', `query { ${Array.from({ length: 40 }, (_, i) => `a${i}: runs(first: 100) { nodes { events { seq } } }`).join(' ')} }`, 44_040],
    ['claimTasks counts max', `mutation { claimTasks(queue: "q", workerId: "w", max: 50) { task { attempts { attempt } } } }`, 50 * (1 + 1 + 10)],
    [
      'fragments and inline fragments count like fields',
      `fragment F on Run { tasks { id } } query { runs(first: 10) { nodes { ...F ... on Run { workflow { name } } } } }`,
      1 + 10 * (1 + 10 + 1),
    ],
  ])('%s', (_name, query, cost) => {
    expect(costOf(query)).toBe(cost);
  });

  it('walks a fragment used many times once per page size (no exponential blow-up) and survives cycles', () => {
    const chain = Array.from({ length: 30 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`).join(' ');
    const started = performance.now();
    expect(costOf(`${chain} fragment F30 on Query { run(id: "x") { id } } query { ...F0 }`)).toBe(2 ** 30);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(() => costOf(`fragment A on Query { ...B } fragment B on Query { ...A run(id: "x") { id } } query { ...A }`)).not.toThrow();
  });

  it('counts claimTasks that may long-poll', () => {
    const longPolls = (query: string) =>
      validate(schema, parse(query), [operationBudgetRule({ maxCost: 1e9, maxLongPolls: 1 })]).filter((e) => e.extensions['limit'] === 'GRAPHQL_MAX_LONG_POLLS')
        .length;
    const claim = (wait: string) => `claimTasks(queue: "q", workerId: "w"${wait}) { taskId }`;
    expect(longPolls(`mutation { a: ${claim(', waitMs: 1000')} b: ${claim(', waitMs: 0')} c: ${claim('')} }`)).toBe(0);
    expect(longPolls(`mutation { a: ${claim(', waitMs: 1000')} b: ${claim(', waitMs: 1')} }`)).toBe(1);
    expect(longPolls(`mutation($w: Int) { a: ${claim(', waitMs: $w')} b: ${claim(', waitMs: $w')} }`)).toBe(1);
    expect(longPolls(`fragment C on Mutation { ${claim(', waitMs: 5')} } mutation { ...C b: ${claim(', waitMs: 5')} }`)).toBe(1);
  });
});

describe('exceedsJsonBytes', () => {
  it('measures without building the string, and without recursion', () => {
    expect(exceedsJsonBytes({ a: 'x'.repeat(100) }, 200)).toBe(false);
    expect(exceedsJsonBytes({ a: 'x'.repeat(300) }, 200)).toBe(true);
    expect(
      exceedsJsonBytes(
        Array.from({ length: 1000 }, () => ({ id: 'abcdefgh' })),
        10_000,
      ),
    ).toBe(true);
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(exceedsJsonBytes(deep, 1e9)).toBe(false);
    expect(exceedsJsonBytes({ at: new Date(0) }, 100)).toBe(false);
  });
});

describe('GraphQLGuard.stringifyResult', () => {
  const guard = (maxResponseBytes: number) =>
    new GraphQLGuard({
      limits: { maxCost: 20_000, maxDepth: 10, maxAliases: 15, maxTokens: 2000, maxDirectives: 50, maxLongPolls: 1, maxResponseBytes, introspection: false },
      production: true,
      onInternal: () => undefined,
    });

  it('sends the JSON it made when it fits, counting UTF-8 bytes, and the LIMIT_EXCEEDED error when it does not', () => {
    const fits = { data: { a: 'x'.repeat(80) } };
    expect(guard(100).stringifyResult(fits)).toBe(JSON.stringify(fits));
    // 50 characters, 100 bytes of UTF-8 (and 112 with the rest): over a 100-byte cap.
    const wide = { data: { a: 'é'.repeat(50) } };
    const refused = JSON.parse(guard(100).stringifyResult(wide)) as { data: unknown; errors: { extensions: Record<string, unknown> }[] };
    expect(refused.data).toBeNull();
    expect(refused.errors[0]!.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_RESPONSE_BYTES', max: 100 });
    expect(guard(200).stringifyResult(wide)).toBe(JSON.stringify(wide));
  });

  it('answers a result too large for a string with the same error, not a crash; other faults are thrown', () => {
    // What V8 throws past its longest string (~512 MB), without building one.
    const huge = {
      toJSON: () => {
        throw new RangeError('Invalid string length');
      },
    };
    const answer = JSON.parse(guard(1e9).stringifyResult({ data: { huge } })) as { data: unknown; errors: { extensions: Record<string, unknown> }[] };
    expect(answer.data).toBeNull();
    expect(answer.errors[0]!.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_RESPONSE_BYTES' });
    const broken = {
      toJSON: () => {
        throw new TypeError('not ours to hide');
      },
    };
    expect(() => guard(1e9).stringifyResult({ data: { broken } })).toThrow(TypeError);
  });
});

describe('withoutSuggestions', () => {
  it.each([
    ['Cannot query field "runz" on type "Query". Did you mean "run" or "runs"?', 'Cannot query field "runz" on type "Query".'],
    ['Value "RUNING" does not exist in "RunStatus" enum. Did you mean the enum value "RUNNING"?', 'Value "RUNING" does not exist in "RunStatus" enum.'],
    ['Unknown argument "frist" on field "Query.runs". Did you mean "first"?', 'Unknown argument "frist" on field "Query.runs".'],
  ])('%s', (message, expected) => {
    expect(withoutSuggestions(message)).toBe(expected);
  });
});
