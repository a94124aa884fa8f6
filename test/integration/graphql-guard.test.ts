import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FIELDS_PER_SLICE } from '../../src/graphql/context';
import { ExecutionSlices } from '../../src/primitives/execution-slices';
import { REAL_POSTGRES } from '../helpers/db';
import { startTestApp, type TestApp } from '../helpers/app';
import { sendOver, TRANSPORTS } from '../helpers/transports';

/**
 * Issue 11, findings 3, 9, 10 (aliased long polls) and 12 (introspection, suggestions): the
 * GraphQL request guard (src/graphql/guard.ts) on HTTP, graphql-ws and the legacy protocol.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const parked = (name: string) => ({
  name,
  steps: [
    { key: 'a', type: 'work', queue: 'nobody-listens' },
    { key: 'b', type: 'work', queue: 'nobody-listens', dependsOn: ['a'] },
  ],
});
const aliases = (n: number, body: string) => `query { ${Array.from({ length: n }, (_, i) => `a${i}: ${body}`).join(' ')} }`;

describe('GraphQL request limits, the same on every transport', () => {
  let t: TestApp;
  beforeAll(async () => {
    // The per-request limits, one after another at full cost: the per-tenant cost budget (tenant-cost.test) is off.
    t = await startTestApp({
      env: { SCHEDULER_POLL_INTERVAL_MS: '60000', ORPHAN_SWEEP_INTERVAL_MS: '600000', REAPER_INTERVAL_MS: '60000', RATE_LIMIT_COST_PER_TENANT: '0' },
    });
    await t.ok(REGISTER, { input: parked('page') });
    for (let i = 0; i < 100; i++) await t.app.services.runs.start('default', { workflow: 'page', input: { i } });
  }, 120_000);
  afterAll(async () => {
    vi.restoreAllMocks();
    await t?.close();
  });

  it.each(TRANSPORTS)('finding 3: 40 aliases of runs(first: 100) { nodes { events { seq } } } are refused before any query (%s)', async (transport) => {
    const query = vi.spyOn(pg.Client.prototype, 'query');
    const result = await sendOver(transport, t, aliases(40, 'runs(first: 100) { nodes { events { seq } } }'));
    const statements = query.mock.calls.length;
    query.mockRestore();
    const codes = result.errors?.map((e) => e.extensions?.code);
    expect(result.data ?? null).toBeNull();
    expect(
      codes?.every((c) => c === 'LIMIT_EXCEEDED'),
      JSON.stringify(result.errors),
    ).toBe(true);
    const cost = result.errors!.find((e) => e.extensions?.['limit'] === 'GRAPHQL_MAX_COST')!;
    expect(cost.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_COST', max: 20_000, actual: 44_040 });
    expect(cost.message).toMatch(/GRAPHQL_MAX_COST/);
    expect(result.errors!.find((e) => e.extensions?.['limit'] === 'GRAPHQL_MAX_ALIASES')?.extensions).toMatchObject({ max: 15, actual: 40 });
    // Executed, it would be at least 80 (a listing and an events batch per alias); a WebSocket
    // connection's own set-up and background passes account for the few seen.
    expect(statements).toBeLessThan(10);
  });

  it.each(TRANSPORTS)('a costly operation within the alias limit is refused by its cost (%s)', async (transport) => {
    const result = await sendOver(transport, t, aliases(2, 'runs(first: 100) { nodes { tasks { attempts { attempt } } } }'));
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_COST', max: 20_000, actual: 22_202 });
    // A page size from a variable counts as the largest page.
    const viaVariable = await sendOver(
      transport,
      t,
      `query($n: Int) { a: runs(first: $n) { nodes { tasks { attempts { attempt } } } } b: runs(last: $n) { nodes { tasks { attempts { attempt } } } } }`,
      { n: 1 },
    );
    expect(viaVariable.errors?.[0]?.extensions).toMatchObject({ limit: 'GRAPHQL_MAX_COST', actual: 22_202 });
  });

  it.each(TRANSPORTS)('depth, directives and tokens are limited (%s)', async (transport) => {
    const deep = await sendOver(
      transport,
      t,
      `query { runs { nodes { workflow { steps { retry { maxAttempts } } } tasks { attempts { attempt } } } edges { node { tasks { attempts { attempt } } } } } }`,
    );
    expect(deep.errors).toBeUndefined();
    const fragments = `fragment F on Run { tasks { attempts { attempt } } } query { runs { edges { node { ...F } } } }`;
    expect((await sendOver(transport, t, fragments)).errors).toBeUndefined();
    const nested = (n: number) => `query { ${'... on Query { '.repeat(n)}__typename${' }'.repeat(n)} }`;
    expect((await sendOver(transport, t, nested(8))).errors).toBeUndefined();
    const tooDeep = await sendOver(transport, t, nested(12));
    expect(tooDeep.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_DEPTH', max: 10 });
    const directives = `query { runs { totalCount ${Array.from({ length: 60 }, () => '@include(if: true)').join(' ')} } }`;
    expect((await sendOver(transport, t, directives)).errors?.map((e) => e.extensions?.['limit'])).toContain('GRAPHQL_MAX_DIRECTIVES');
    const tokens = `query { ${Array.from({ length: 1100 }, (_, i) => `f${i}: __typename`).join(' ')} }`;
    const refused = await sendOver(transport, t, tokens);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_TOKENS', max: 2000 });
  });

  it.each(TRANSPORTS)('finding 10: a second long-polling claimTasks in one operation is refused at validation (%s)', async (transport) => {
    const started = Date.now();
    const two = await sendOver(
      transport,
      t,
      `mutation { a: claimTasks(queue: "q1", workerId: "w", waitMs: 60000) { taskId } b: claimTasks(queue: "q2", workerId: "w", waitMs: 60000) { taskId } }`,
    );
    expect(two.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_LONG_POLLS', max: 1, actual: 2 });
    expect(Date.now() - started).toBeLessThan(10_000);
    const viaVariable = await sendOver(
      transport,
      t,
      `mutation($w: Int) { a: claimTasks(queue: "q1", workerId: "w", waitMs: $w) { taskId } b: claimTasks(queue: "q2", workerId: "w", waitMs: $w) { taskId } }`,
      { w: 0 },
    );
    expect(viaVariable.errors?.[0]?.extensions).toMatchObject({ limit: 'GRAPHQL_MAX_LONG_POLLS' });
    // One long poll and any number of plain claims are fine.
    const fine = await sendOver(
      transport,
      t,
      `mutation { a: claimTasks(queue: "q1", workerId: "w", waitMs: 10) { taskId } b: claimTasks(queue: "q2", workerId: "w", waitMs: 0) { taskId } c: claimTasks(queue: "q3", workerId: "w") { taskId } }`,
    );
    expect(fine.errors).toBeUndefined();
    expect(fine.data).toEqual({ a: [], b: [], c: [] });
  });

  it('finding 3: a page of runs with their workflow, events, tasks and attempts costs a constant number of statements', async () => {
    const page = (n: number) =>
      `query { runs(first: ${n}) { nodes { id workflow { name } events { seq type } tasks { id traceparent attempts { attempt } } } } }`;
    const count = async (n: number) => {
      const query = vi.spyOn(pg.Client.prototype, 'query');
      const data = await t.ok(page(n));
      const statements = query.mock.calls.length;
      query.mockRestore();
      expect(data.runs.nodes).toHaveLength(n);
      expect(data.runs.nodes.every((r: any) => r.events.length >= 2 && r.tasks.length === 2)).toBe(true);
      return statements;
    };
    await count(5); // warm: the workflow cache, prepared statements
    const few = await count(10);
    const many = await count(100);
    console.log(`[graphql-guard] statements for a page of runs with workflow, events, tasks, attempts: ${few} for 10 runs, ${many} for 100`);
    expect(many).toBe(few);
    // runs + totalCount-free listing, workflows, events, tasks, attempts (each one batch).
    expect(many).toBeLessThanOrEqual(8);
  });

  it('a long read gives the event loop back between slices of its resolvers; a short one never waits', async () => {
    // The real slices, watched: how many resolutions took a turn, and how many had to wait for a later one.
    const next = vi.spyOn(ExecutionSlices.prototype, 'next');
    const waits = () => next.mock.results.filter((r) => r.value instanceof Promise).length;
    try {
      await t.ok(`query { runs(first: 1) { nodes { id events { seq } tasks { id } } } }`);
      expect(next.mock.calls.length).toBeGreaterThan(0);
      expect(waits()).toBe(0);
      next.mockClear();
      const data = await t.ok(`query { runs(first: 100) { nodes { id events { seq } tasks { id attempts { attempt } } } } }`);
      expect(data.runs.nodes).toHaveLength(100);
      console.log(`[graphql-guard] a page of 100 runs: ${next.mock.calls.length} resolutions, ${waits()} waited for a later turn (${FIELDS_PER_SLICE} a turn)`);
      // A root field, 2 field resolvers per run and one per task: past FIELDS_PER_SLICE, the rest waited.
      expect(next.mock.calls.length).toBeGreaterThan(300);
      expect(waits()).toBeGreaterThanOrEqual(next.mock.calls.length - 2 * FIELDS_PER_SLICE * 4);
      expect(waits()).toBeGreaterThan(0);
    } finally {
      next.mockRestore();
    }
  });

  it('Run.events keeps afterSeq per run and refuses a negative one', async () => {
    const data = await t.ok(`query { runs(first: 3) { nodes { all: events { seq } later: events(afterSeq: 1) { seq } } } }`);
    for (const run of data.runs.nodes) {
      expect(run.all[0].seq).toBe(1);
      expect(run.later.map((e: any) => e.seq)).toEqual(run.all.slice(1).map((e: any) => e.seq));
    }
    const bad = await t.gql(`query { runs(first: 1) { nodes { events(afterSeq: -1) { seq } } } }`);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('response size cap', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { GRAPHQL_MAX_RESPONSE_BYTES: '65536', SCHEDULER_POLL_INTERVAL_MS: '60000' } });
    await t.ok(REGISTER, { input: parked('big') });
    const blob = 'x'.repeat(20_000);
    for (let i = 0; i < 5; i++) await t.app.services.runs.start('default', { workflow: 'big', input: { blob } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(TRANSPORTS)('a response over GRAPHQL_MAX_RESPONSE_BYTES becomes a LIMIT_EXCEEDED error, not a 500 (%s)', async (transport) => {
    const small = await sendOver(transport, t, `query { runs(first: 2) { nodes { input } } }`);
    expect(small.errors).toBeUndefined();
    const result = await sendOver(transport, t, `query { a: runs(first: 5) { nodes { input } } b: runs(first: 5) { nodes { input } } }`);
    if (transport === 'http') expect(result.status).toBe(200);
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_RESPONSE_BYTES', max: 65536 });
    expect(result.errors?.[0]?.message).toMatch(/GRAPHQL_MAX_RESPONSE_BYTES/);
  });
});

describe('error masking and introspection in production, the same on every transport', () => {
  let t: TestApp;
  let key: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'production' } });
    key = (await t.app.services.auth.createKey('prod-tenant')).key;
    await t.ok(REGISTER, { input: parked('prod') }, key);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await t?.close();
  });

  it.each(TRANSPORTS)('finding 9: an unexpected error says only "Internal server error" (%s)', async (transport) => {
    const list = vi
      .spyOn(t.app.services.runs, 'list')
      .mockRejectedValue(new Error("Cannot read properties of undefined (reading 'tenantId') at pg-pool 10.1.2.3:5432 (password=hunter2)"));
    try {
      const result = await sendOver(transport, t, `query { runs { totalCount } }`, undefined, key);
      expect(result.errors).toEqual([expect.objectContaining({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } })]);
      expect(JSON.stringify(result)).not.toMatch(/pg-pool|hunter2|stack|at /);
    } finally {
      list.mockRestore();
    }
    // A dropped database connection is a typed, retryable UNAVAILABLE: its text stays in the logs.
    const dropped = vi
      .spyOn(t.app.services.runs, 'list')
      .mockRejectedValue(new Error('Connection terminated unexpectedly: pg-pool at 10.1.2.3:5432 (password=hunter2)'));
    try {
      const result = await sendOver(transport, t, `query { runs { totalCount } }`, undefined, key);
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', reason: 'CONNECTION_LOST', retryAfterMs: 1000 });
      expect(JSON.stringify(result)).not.toMatch(/pg-pool|hunter2|10\.1\.2\.3|Connection terminated/);
    } finally {
      dropped.mockRestore();
    }
    const crash = vi.spyOn(t.app.services.runs, 'list').mockImplementation(() => {
      const f = (): never => f();
      return f();
    });
    try {
      const result = await sendOver(transport, t, `query { runs { totalCount } }`, undefined, key);
      expect(result.errors?.[0]).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    } finally {
      crash.mockRestore();
    }
  });

  it.each(TRANSPORTS)('finding 9: a value Postgres cannot store is BAD_USER_INPUT without Postgres text or sqlState (%s)', async (transport) => {
    const result = await sendOver(
      transport,
      t,
      `mutation($input: JSON) { startRun(workflow: "prod", input: $input) { id } }`,
      { input: { n: 'a\u0000b' } },
      key,
    );
    const error = result.errors?.[0];
    expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(error?.extensions).not.toHaveProperty('sqlState');
    expect(error?.message).toMatch(/NUL character/);
    expect(error?.message).not.toMatch(/unsupported Unicode|22P05|\\u0000 cannot be converted|jsonb/);
  });

  it.each(TRANSPORTS)('finding 12: introspection is off and errors suggest no field names (%s)', async (transport) => {
    const schema = await sendOver(transport, t, `query { __schema { types { name } } }`, undefined, key);
    expect(schema.data ?? null).toBeNull();
    expect(schema.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const type = await sendOver(transport, t, `query { __type(name: "Run") { fields { name } } }`, undefined, key);
    expect(type.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const typo = await sendOver(transport, t, `query { runz { totalCount } }`, undefined, key);
    expect(typo.errors?.[0]?.message).toBe('Cannot query field "runz" on type "Query".');
    const typename = await sendOver(transport, t, `query { __typename }`, undefined, key);
    expect(typename.data).toEqual({ __typename: 'Query' });
  });

  it.each(TRANSPORTS)('a syntax error is GRAPHQL_PARSE_FAILED and bad variables BAD_USER_INPUT (%s)', async (transport) => {
    const syntax = await sendOver(transport, t, `query { runs { `, undefined, key);
    expect(syntax.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    const variables = await sendOver(transport, t, `query($n: Int!) { runs(first: $n) { totalCount } }`, { n: 'many' }, key);
    expect(variables.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('introspection in development, and when enabled in production', () => {
  it('is on outside production and with GRAPHQL_INTROSPECTION=true, with suggestions', async () => {
    for (const env of [{}, { NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' }]) {
      const t = await startTestApp({ env });
      try {
        const key = env.NODE_ENV ? (await t.app.services.auth.createKey('k')).key : undefined;
        expect((await t.gql(`query { __schema { queryType { name } } }`, undefined, key)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
        expect((await t.gql(`query { runz { totalCount } }`, undefined, key)).errors?.[0]?.message).toMatch(/Did you mean .*"runs"\?/);
      } finally {
        await t.close();
      }
    }
  });
});

describe('HTTP hygiene', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'development' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const post = (body: string) => fetch(t.app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('finding 9: malformed JSON is a GraphQL JSON error (400 BAD_REQUEST), not an HTML page with a stack', async () => {
    const res = await post('{"query": "{ runs { totalCount } }"');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = await res.json();
    expect(body).toEqual({ errors: [{ message: expect.stringMatching(/not valid JSON/), extensions: { code: 'BAD_REQUEST' } }] });
  });

  it('finding 9: a body over the limit is a GraphQL JSON error (413 LIMIT_EXCEEDED)', async () => {
    const res = await post(JSON.stringify({ query: '{ __typename }', variables: { blob: 'x'.repeat(3 * 1024 * 1024) } }));
    expect(res.status).toBe(413);
    const body = (await res.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0].extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'REQUEST_BODY_MAX_BYTES', max: 2 * 1024 * 1024 });
  });

  it('logs a refused body as one line without the body', async () => {
    const lines: unknown[][] = [];
    const warn = vi.spyOn(t.app.logger, 'warn').mockImplementation(((...args: unknown[]) => void lines.push(args)) as never);
    try {
      await post('{"secret": "card 4111111111111111"');
    } finally {
      warn.mockRestore();
    }
    expect(lines).toHaveLength(1);
    expect(JSON.stringify(lines[0])).not.toMatch(/4111/);
    expect(lines[0]![0]).toMatchObject({ status: 400, type: 'entity.parse.failed' });
  });
});

describe.runIf(REAL_POSTGRES)('statement timeout (DATABASE_STATEMENT_TIMEOUT_MS)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { DATABASE_STATEMENT_TIMEOUT_MS: '300' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('cancels a statement that runs longer, as UNAVAILABLE; long polls wait in Node and are not cut', async () => {
    const started = Date.now();
    await expect(t.app.db.rows('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(4_000);
    const poll = Date.now();
    const claimed = await t.ok(`mutation { claimTasks(queue: "idle", workerId: "w", waitMs: 1000) { taskId } }`);
    expect(claimed.claimTasks).toEqual([]);
    expect(Date.now() - poll).toBeGreaterThanOrEqual(900);
    const [{ statement_timeout }] = await t.app.db.rows<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(statement_timeout).toBe('300ms');
  });
});
