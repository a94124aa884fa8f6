import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/domain/json';
import { ManualClock } from '../../src/domain/manual-clock';
import { startRequestHash } from '../../src/services/runs.service';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Run metadata and bulk operations (issue 13) through the GraphQL API: tags and metadata on
 * startRun, the runs filters on them and on finishedAt, cancelRuns (bounded, tenant-scoped, no
 * silent "cancel everything"), and input contracts (inputSchema at registration and at start).
 */

const T0 = new Date('2030-05-01T08:00:00.000Z');

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version inputSchema } }`;
const START = `mutation($workflow: String!, $input: JSON, $key: String, $tags: [String!], $metadata: JSON) {
  startRun(workflow: $workflow, input: $input, idempotencyKey: $key, tags: $tags, metadata: $metadata) { id status tags metadata }
}`;
const RUNS = `query($filter: RunFilter) { runs(filter: $filter, first: 100) { nodes { id status tags metadata } totalCount } }`;
const RUN = `query($id: ID!) { run(id: $id) { id status tags metadata error finishedAt } }`;
const CANCEL_RUN = `mutation($id: ID!) { cancelRun(id: $id) { id status finishedAt } }`;
const CANCEL_RUNS = `mutation($filter: RunFilter!, $reason: String, $all: Boolean) { cancelRuns(filter: $filter, reason: $reason, all: $all) }`;

/** Steps on a queue no worker claims from: runs stay PENDING until cancelled. */
const parked = (name: string, extra: Record<string, unknown> = {}) => ({ name, steps: [{ key: 'remote', type: 'work', queue: 'nobody-listens' }], ...extra });

describe('run metadata, filters, bulk cancel and input contracts', () => {
  let t: TestApp;
  let keyA: string;
  let keyB: string;
  const clock = new ManualClock(T0);

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { CANCEL_RUNS_MAX: '3' } });
    keyA = (await t.app.services.auth.createKey('tenant-a')).key;
    keyB = (await t.app.services.auth.createKey('tenant-b')).key;
    for (const key of [keyA, keyB]) await t.ok(REGISTER, { input: parked('parked') }, key);
  });
  afterAll(async () => {
    await t?.close();
  });

  const start = async (key: string, vars: Record<string, unknown>) => (await t.ok(START, { workflow: 'parked', ...vars }, key)).startRun;
  const ids = (page: { nodes: { id: string }[] }) => page.nodes.map((n) => n.id).sort();

  describe('tags and metadata', () => {
    it('round-trip: tags distinct and sorted, metadata as given', async () => {
      const metadata = { customer: 'c-42', priority: 1, nested: { x: [1, 2] }, 'odd key': null };
      const run = await start(keyA, { tags: ['team=payments', 'env:prod', 'env:prod'], metadata });
      expect(run.tags).toEqual(['env:prod', 'team=payments']);
      expect(run.metadata).toEqual(metadata);
      const { run: read } = await t.ok(RUN, { id: run.id }, keyA);
      expect(read).toMatchObject({ tags: ['env:prod', 'team=payments'], metadata });
      // Without them: [] and {}.
      const plain = await start(keyA, {});
      expect(plain).toMatchObject({ tags: [], metadata: {} });
    });

    it.each([
      ['an empty tag', { tags: [''] }, 'BAD_USER_INPUT', 'INVALID_TAG'],
      ['a tag with a space', { tags: ['env prod'] }, 'BAD_USER_INPUT', 'INVALID_TAG'],
      ['33 tags', { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, 'LIMIT_EXCEEDED', undefined],
      ['a tag of 129 characters', { tags: ['x'.repeat(129)] }, 'LIMIT_EXCEEDED', undefined],
      ['metadata that is an array', { metadata: ['a'] }, 'BAD_USER_INPUT', 'INVALID_METADATA'],
      ['metadata that is a string', { metadata: 'c-42' }, 'BAD_USER_INPUT', 'INVALID_METADATA'],
      ['metadata over 16 KiB', { metadata: { blob: 'x'.repeat(17 * 1024) } }, 'LIMIT_EXCEEDED', undefined],
    ])('startRun with %s is refused', async (_name, vars, code, reason) => {
      const { data, errors } = await t.gql(START, { workflow: 'parked', ...vars }, keyA);
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions?.code).toBe(code);
      if (reason) expect(errors?.[0]?.extensions?.['reason']).toBe(reason);
      if (code === 'LIMIT_EXCEEDED') expect(errors?.[0]?.extensions?.['limit']).toMatch(/^RUN_(TAGS_MAX|TAG_MAX_LENGTH|METADATA_MAX_BYTES)$/);
    });

    it('are part of the idempotent request: order of tags does not matter, another tag or metadata is CONFLICT', async () => {
      const first = await start(keyA, { key: 'idem-1', tags: ['a', 'b'], metadata: { m: 1 } });
      expect((await start(keyA, { key: 'idem-1', tags: ['b', 'a', 'a'], metadata: { m: 1 } })).id).toBe(first.id);
      for (const [vars, differs] of [
        [{ tags: ['a'], metadata: { m: 1 } }, ['tags']],
        [{ tags: ['a', 'b'], metadata: { m: 2 } }, ['metadata']],
        [{}, ['tags', 'metadata']],
      ] as const) {
        const { errors } = await t.gql(START, { workflow: 'parked', key: 'idem-1', ...vars }, keyA);
        expect(errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', reason: 'IDEMPOTENCY_KEY_REUSED', runId: first.id, differs });
      }
    });

    it('a request without tags or metadata hashes as before they existed (keys used then still match)', () => {
      const req = { workflow: 'parked', version: null, input: { a: 1 } };
      const before = createHash('sha256').update(canonicalJson(req)).digest('hex');
      expect(startRequestHash(req)).toBe(before);
      expect(startRequestHash({ ...req, tags: [], metadata: {} })).toBe(before);
      expect(startRequestHash({ ...req, tags: ['x'] })).not.toBe(before);
    });
  });

  describe('runs filters', () => {
    let red: string;
    let blue: string;
    let both: string;
    let early: string;
    let late: string;

    beforeAll(async () => {
      red = (await start(keyA, { tags: ['color:red', 'filters'], metadata: { customer: 'c-1', tier: 'gold', nested: { x: [1, 2] } } })).id;
      blue = (await start(keyA, { tags: ['color:blue', 'filters'], metadata: { customer: 'c-2', tier: 'gold' } })).id;
      both = (await start(keyA, { tags: ['color:blue', 'color:red', 'filters'], metadata: { customer: 'c-1', tier: 1 } })).id;
      // Finished at known instants: cancelled at T0 + 1 h and T0 + 3 h.
      early = (await start(keyA, { tags: ['finish'] })).id;
      late = (await start(keyA, { tags: ['finish'] })).id;
      await clock.set(new Date(T0.getTime() + 3_600_000));
      await t.ok(CANCEL_RUN, { id: early }, keyA);
      await clock.set(new Date(T0.getTime() + 3 * 3_600_000));
      await t.ok(CANCEL_RUN, { id: late }, keyA);
    });

    it.each([
      ['one tag', { tags: ['color:red'] }, () => [red, both]],
      ['every tag given', { tags: ['color:red', 'color:blue'] }, () => [both]],
      ['a tag no run has', { tags: ['color:green'] }, () => []],
      ['one metadata key', { metadata: { customer: 'c-1' } }, () => [red, both]],
      ['two metadata keys', { metadata: { customer: 'c-1', tier: 'gold' } }, () => [red]],
      ['a value of another JSON type', { metadata: { tier: '1' } }, () => []],
      ['a nested value, compared whole', { tags: ['filters'], metadata: { nested: { x: [1, 2] } } }, () => [red]],
      ['a nested value it only contains', { tags: ['filters'], metadata: { nested: { x: [1] } } }, () => []],
      ['tags and metadata', { tags: ['color:blue'], metadata: { tier: 'gold' } }, () => [blue]],
      ['finishedAfter', { tags: ['finish'], finishedAfter: new Date(T0.getTime() + 2 * 3_600_000).toISOString() }, () => [late]],
      ['finishedBefore', { tags: ['finish'], finishedBefore: new Date(T0.getTime() + 2 * 3_600_000).toISOString() }, () => [early]],
      ['finishedAfter (unfinished runs never match)', { tags: ['filters'], finishedAfter: T0.toISOString() }, () => []],
    ])('by %s', async (_name, filter, expected) => {
      const { runs } = await t.ok(RUNS, { filter }, keyA);
      expect(ids(runs)).toEqual(expected().sort());
      expect(runs.totalCount).toBe(expected().length);
    });

    it('are scoped to the tenant: another tenant with the same tags sees only its own', async () => {
      const other = (await start(keyB, { tags: ['color:red'] })).id;
      expect(ids((await t.ok(RUNS, { filter: { tags: ['color:red'] } }, keyB)).runs)).toEqual([other]);
      expect(ids((await t.ok(RUNS, { filter: { tags: ['color:red'] } }, keyA)).runs)).toEqual([red, both].sort());
    });

    it.each([
      ['an invalid tag', { tags: ['no spaces'] }, 'BAD_USER_INPUT'],
      ['33 tags', { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, 'LIMIT_EXCEEDED'],
      ['metadata that is an array', { metadata: [1] }, 'BAD_USER_INPUT'],
      ['metadata that is a number', { metadata: 7 }, 'BAD_USER_INPUT'],
      ['a finishedAfter that is not a date', { finishedAfter: 'yesterday' }, 'BAD_USER_INPUT'],
    ])('refuse %s', async (_name, filter, code) => {
      const { data, errors } = await t.gql(RUNS, { filter }, keyA);
      expect(data ?? null).toBeNull();
      expect(errors?.[0]?.extensions?.code).toBe(code);
    });
  });

  describe('cancelRuns', () => {
    it('cancels at most CANCEL_RUNS_MAX per call, only the matching unfinished runs of the caller tenant', async () => {
      const mine = await Promise.all(Array.from({ length: 5 }, () => start(keyA, { tags: ['bulk'], metadata: { batch: 7 } })));
      const spared = await start(keyA, { tags: ['bulk'], metadata: { batch: 8 } });
      const theirs = await Promise.all(Array.from({ length: 2 }, () => start(keyB, { tags: ['bulk'], metadata: { batch: 7 } })));
      const filter = { tags: ['bulk'], metadata: { batch: 7 } };

      const counts: number[] = [];
      for (let call = 0; call < 4; call++) counts.push((await t.ok(CANCEL_RUNS, { filter, reason: 'batch 7 withdrawn' }, keyA)).cancelRuns);
      console.log(`cancelRuns with CANCEL_RUNS_MAX=3 over 5 matching runs answered ${counts.join(', ')}`);
      expect(counts).toEqual([3, 2, 0, 0]);

      for (const run of mine) expect((await t.ok(RUN, { id: run.id }, keyA)).run).toMatchObject({ status: 'CANCELLED', error: 'batch 7 withdrawn' });
      expect((await t.ok(RUN, { id: spared.id }, keyA)).run.status).toBe('PENDING');
      for (const run of theirs) expect((await t.ok(RUN, { id: run.id }, keyB)).run.status).toBe('PENDING');
      // Each through the cancel transition: the run's history records it like a cancelRun.
      const { run } = await t.ok(`query($id: ID!) { run(id: $id) { tasks { status } events { type status } } }`, { id: mine[0]!.id }, keyA);
      expect(run.tasks).toEqual([{ status: 'CANCELLED' }]);
      expect(run.events.at(-1)).toEqual({ type: 'RUN_STATUS', status: 'CANCELLED' });
    });

    it('refuses an empty filter unless all: true, then cancels every unfinished run of the tenant (and no other)', async () => {
      const { data, errors } = await t.gql(CANCEL_RUNS, { filter: {} }, keyB);
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'EMPTY_FILTER' });
      const { runs: before } = await t.ok(RUNS, { filter: { status: ['PENDING', 'RUNNING'] } }, keyB);
      const activeA = (await t.ok(RUNS, { filter: { status: ['PENDING', 'RUNNING'] } }, keyA)).runs.totalCount;
      expect(before.totalCount).toBeGreaterThan(0);
      let total = 0;
      for (let n = -1; n !== 0; total += n) n = (await t.ok(CANCEL_RUNS, { filter: {}, all: true }, keyB)).cancelRuns;
      expect(total).toBe(before.totalCount);
      expect((await t.ok(RUNS, { filter: { status: ['PENDING', 'RUNNING'] } }, keyB)).runs.totalCount).toBe(0);
      expect((await t.ok(RUNS, { filter: { status: ['PENDING', 'RUNNING'] } }, keyA)).runs.totalCount).toBe(activeA);
    });

    it('cancels each run exactly once when calls race each other and a worker claiming the tasks', async () => {
      await t.ok(REGISTER, { input: { name: 'race', steps: [{ key: 'work', type: 'work', queue: 'race-q' }] } }, keyA);
      const runs = await Promise.all(Array.from({ length: 20 }, () => start(keyA, { workflow: 'race', tags: ['race'] })));
      const drain = async () => {
        const counts: number[] = [];
        for (let n = -1; n !== 0; counts.push(n)) n = (await t.ok(CANCEL_RUNS, { filter: { tags: ['race'] } }, keyA)).cancelRuns;
        return counts;
      };
      const claim = t.ok(`mutation { claimTasks(queue: "race-q", workerId: "racer", max: 10) { taskId } }`, {}, keyA);
      const [one, two, claimed] = await Promise.all([drain(), drain(), claim]);
      const total = [...one, ...two].reduce((a, b) => a + b, 0);
      console.log(`racing cancelRuns calls answered [${one.join(', ')}] and [${two.join(', ')}]; the worker claimed ${claimed.claimTasks.length} tasks`);
      expect(total).toBe(runs.length);
      for (const run of runs) expect((await t.ok(RUN, { id: run.id }, keyA)).run.status).toBe('CANCELLED');
    });

    it.each([
      ['an empty reason', { filter: { tags: ['x'] }, reason: '' }],
      ['a reason over 1024 characters', { filter: { tags: ['x'] }, reason: 'r'.repeat(1025) }],
      ['an invalid tag', { filter: { tags: ['a b'] } }],
    ])('refuses %s', async (_name, vars) => {
      const { errors } = await t.gql(CANCEL_RUNS, vars, keyA);
      expect(errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });
  });

  describe('inputSchema', () => {
    const schema = {
      type: 'object',
      required: ['customer', 'amount'],
      properties: {
        customer: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^c-[0-9]+$' } } },
        amount: { type: 'number', minimum: 0 },
        email: { type: 'string', format: 'email' },
        items: { type: 'array', maxItems: 2 },
      },
      additionalProperties: false,
    };

    beforeAll(async () => {
      const { registerWorkflow } = await t.ok(REGISTER, { input: parked('contract', { inputSchema: schema }) }, keyA);
      expect(registerWorkflow).toMatchObject({ version: 1, inputSchema: schema });
    });

    it('is readable, and part of the definition: the same schema is the same version, another one the next', async () => {
      const { workflow } = await t.ok(`query { workflow(name: "contract") { version inputSchema } }`, {}, keyA);
      expect(workflow).toEqual({ version: 1, inputSchema: schema });
      expect((await t.ok(REGISTER, { input: parked('contract', { inputSchema: schema }) }, keyA)).registerWorkflow.version).toBe(1);
      const looser = { ...schema, additionalProperties: true };
      expect((await t.ok(REGISTER, { input: parked('contract-2', { inputSchema: schema }) }, keyA)).registerWorkflow.version).toBe(1);
      expect((await t.ok(REGISTER, { input: parked('contract-2', { inputSchema: looser }) }, keyA)).registerWorkflow.version).toBe(2);
      expect((await t.ok(REGISTER, { input: parked('contract-2') }, keyA)).registerWorkflow).toMatchObject({ version: 3, inputSchema: null });
    });

    it('lets a fitting input start a run', async () => {
      const run = (await t.ok(START, { workflow: 'contract', input: { customer: { id: 'c-42' }, amount: 10, email: 'a@example.com' } }, keyA)).startRun;
      expect(run.status).toBe('PENDING');
    });

    it('refuses an input that does not fit with BAD_USER_INPUT listing each path and rule', async () => {
      const input = { customer: { id: 'C42' }, amount: -1, email: 'nope', items: [1, 2, 3], extra: true };
      const { data, errors } = await t.gql(START, { workflow: 'contract', input }, keyA);
      expect(data).toBeNull();
      const ext = errors?.[0]?.extensions ?? {};
      expect(ext).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INPUT_SCHEMA_VIOLATION' });
      const listed = (ext['errors'] as { path: string; rule: string; message: string }[]).map(({ path, rule }) => `${path} ${rule}`).sort();
      expect(listed).toEqual(['/amount minimum', '/customer/id pattern', '/email format', '/extra additionalProperties', '/items maxItems']);
      expect(errors?.[0]?.message).toMatch(/does not fit the inputSchema of workflow "contract"/);
      // A missing property is pointed at; no input at all is `{}`.
      const missing = await t.gql(START, { workflow: 'contract' }, keyA);
      expect(missing.errors?.[0]?.extensions?.['errors']).toEqual([
        { path: '/customer', rule: 'required', message: "must have required property 'customer'" },
        { path: '/amount', rule: 'required', message: "must have required property 'amount'" },
      ]);
    });

    it.each([
      ['a schema that is not an object', ['string']],
      ['an unknown keyword (a typo)', { type: 'object', requried: ['a'] }],
      ['an unknown type', { type: 'strnig' }],
      ['a remote $ref (never fetched)', { $ref: 'http://127.0.0.1:9/schema.json' }],
      ['a pattern RE2 cannot run (lookahead)', { type: 'string', pattern: '^(?=a)' }],
    ])('refuses at registration %s: BAD_USER_INPUT INVALID_INPUT_SCHEMA', async (_name, inputSchema) => {
      const { data, errors } = await t.gql(REGISTER, { input: parked('bad-contract', { inputSchema }) }, keyA);
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_INPUT_SCHEMA', field: 'inputSchema' });
      expect(errors?.[0]?.message).toMatch(/inputSchema is not a valid JSON Schema/);
    });

    it('refuses a schema over INPUT_SCHEMA_MAX_BYTES with LIMIT_EXCEEDED', async () => {
      const properties = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`property_${i}`, { type: 'string' }]));
      const { errors } = await t.gql(REGISTER, { input: parked('huge-contract', { inputSchema: { type: 'object', properties } }) }, keyA);
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'INPUT_SCHEMA_MAX_BYTES', max: 65536 });
    });

    it("keeps tenants' schemas apart: the same $id in two tenants, each validating by its own", async () => {
      const withId = (type: string) => ({ $id: 'urn:example:order', type: 'object', properties: { n: { type } } });
      await t.ok(REGISTER, { input: parked('same-id', { inputSchema: withId('string') }) }, keyA);
      await t.ok(REGISTER, { input: parked('same-id', { inputSchema: withId('number') }) }, keyB);
      expect((await t.gql(START, { workflow: 'same-id', input: { n: 'x' } }, keyA)).errors).toBeUndefined();
      expect((await t.gql(START, { workflow: 'same-id', input: { n: 'x' } }, keyB)).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect((await t.gql(START, { workflow: 'same-id', input: { n: 1 } }, keyB)).errors).toBeUndefined();
    });
  });
});
