import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { REAL_POSTGRES } from '../helpers/db';

/**
 * The runs API through GraphQL: starting runs (versions, input checks, idempotency), reading one
 * run, and the runs listing (cursor pagination, filters, batched nested fields).
 */

const T0 = new Date('2030-03-01T12:00:00.000Z');
const at = (minutes: number, ms = 0) => new Date(T0.getTime() + minutes * 60_000 + ms);

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version } }`;
const START = `mutation($workflow: String!, $version: Int, $input: JSON, $key: String) {
  startRun(workflow: $workflow, version: $version, input: $input, idempotencyKey: $key) {
    id status input idempotencyKey createdAt workflow { name version } tasks { key status input }
  }
}`;
const RUNS = `query($filter: RunFilter, $first: Int, $after: String) {
  runs(filter: $filter, first: $first, after: $after) { nodes { id createdAt status } pageInfo { endCursor hasNextPage } totalCount }
}`;
const RUN = `query($id: ID!) { run(id: $id) { id status } }`;

/** Steps on a queue no worker claims from: runs stay PENDING until cancelled. */
const parked = (name: string, steps: Record<string, unknown>[] = [{ key: 'remote', type: 'work', queue: 'nobody-listens' }]) => ({ name, steps });

interface RunNode {
  id: string;
  createdAt: string;
  status: string;
}
interface Page {
  nodes: RunNode[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
  totalCount: number;
}

/** Newest first, ties broken by id descending: the order the API promises. */
function newestFirst<T extends { id: string; createdAt: Date | string }>(runs: T[]): T[] {
  const ms = (r: T) => new Date(r.createdAt).getTime();
  return [...runs].sort((a, b) => ms(b) - ms(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

describe('runs API', () => {
  let t: TestApp;
  // Time moves only when a test says so: createdAt values (and their ties) are known in advance.
  const clock = new ManualClock(T0);
  beforeAll(async () => {
    t = await startTestApp({ clock });
    await t.ok(REGISTER, { input: parked('parked') });
    await t.ok(REGISTER, { input: { name: 'versioned', steps: [{ key: 'one', type: 'noop' }] } });
    await t.ok(REGISTER, {
      input: {
        name: 'versioned',
        steps: [
          { key: 'one', type: 'noop' },
          { key: 'two', type: 'noop', dependsOn: ['one'] },
        ],
      },
    });
    await t.ok(REGISTER, {
      input: {
        name: 'needs-customer',
        steps: [{ key: 'lookup', type: 'work', queue: 'nobody-listens', input: { id: '{{ input.customer.id }}', note: 'for {{ input.customer.name }}' } }],
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('startRun', () => {
    it.each([
      ['an unknown workflow', { workflow: 'no-such-workflow' }, 'no-such-workflow'],
      ['an unknown version', { workflow: 'versioned', version: 7 }, 'versioned@7'],
      ['a name that differs only in case', { workflow: 'Parked' }, 'Parked'],
    ])('of %s is NOT_FOUND', async (_name, vars, id) => {
      const { data, errors } = await t.gql(START, vars);
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', what: 'Workflow', id });
      expect(errors?.[0]?.message).toBe(`Workflow "${id}" was not found`);
    });

    it('runs the version registered a moment ago, although the replica had the previous one in memory', async () => {
      await t.ok(REGISTER, { input: { name: 'moving', steps: [{ key: 'v1', type: 'noop' }] } });
      // This start remembers version 1 as the latest.
      expect((await t.ok(START, { workflow: 'moving' })).startRun.workflow.version).toBe(1);
      // Registered straight in the store, as another replica would: this replica hears nothing of it.
      await t.app.db.rows(
        `INSERT INTO workflows ("tenantId", name, version, description, definition, "definitionHash")
         SELECT "tenantId", name, 2, description, jsonb_set(definition, '{steps,0,key}', '"v2"'), 'moved' FROM workflows WHERE name = 'moving'`,
      );
      const { startRun } = await t.ok(START, { workflow: 'moving' });
      expect(startRun.workflow.version).toBe(2);
      expect(startRun.tasks.map((x: { key: string }) => x.key)).toEqual(['v2']);
      expect((await waitForRun(t, startRun.id)).status).toBe('SUCCEEDED');
    });

    it.each([
      [1, 1, ['one']],
      [2, 2, ['one', 'two']],
      [null, 2, ['one', 'two']],
    ])('with version %s runs version %i', async (version, expected, keys) => {
      const { startRun } = await t.ok(START, { workflow: 'versioned', version });
      expect(startRun.workflow).toEqual({ name: 'versioned', version: expected });
      expect(startRun.tasks.map((x: { key: string }) => x.key)).toEqual(keys);
      // RUNNING when its noop root was claimed in the start itself (eager start: test/integration/eager-start.test.ts), else PENDING.
      expect(['PENDING', 'RUNNING']).toContain(startRun.status);
      expect((await waitForRun(t, startRun.id)).status).toBe('SUCCEEDED');
    });

    it.each([
      ['an empty input', {}, 'input.customer.id', '"customer" does not exist on input'],
      ['a customer without id', { customer: { name: 'Ada' } }, 'input.customer.id', '"id" does not exist on input.customer'],
      ['a customer that is not an object', { customer: 42 }, 'input.customer.id', '(a number)'],
    ])('with %s is BAD_USER_INPUT naming the missing path, and creates no run', async (_name, input, path, why) => {
      const { data, errors } = await t.gql(START, { workflow: 'needs-customer', input });
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', path });
      expect(errors?.[0]?.message).toContain(`{{ ${path} }}`);
      expect(errors?.[0]?.message).toContain(why);
      expect((await t.ok(RUNS, { filter: { workflow: 'needs-customer' } })).runs.totalCount).toBe(0);
    });

    it('with an input that fits resolves the root step templates at once', async () => {
      const { startRun } = await t.ok(START, { workflow: 'needs-customer', input: { customer: { id: 'c-1', name: 'Ada' } } });
      expect(startRun.tasks).toEqual([{ key: 'lookup', status: 'QUEUED', input: { id: 'c-1', note: 'for Ada' } }]);
      expect((await t.ok(RUNS, { filter: { workflow: 'needs-customer' } })).runs.totalCount).toBe(1);
    });

    it(`20 concurrent starts with one idempotencyKey make one run (${REAL_POSTGRES ? 'racing on Postgres' : 'serialized by PGlite'}); another tenant's key is its own`, async () => {
      await t.ok(REGISTER, { input: parked('idempotent') });
      const results = await Promise.all(Array.from({ length: 20 }, () => t.gql(START, { workflow: 'idempotent', key: 'order-42' })));
      for (const r of results) expect(r.errors).toBeUndefined();
      const ids = new Set(results.map((r) => r.data.startRun.id));
      expect(ids.size).toBe(1);
      const [runId] = ids;
      expect(results[0]!.data.startRun).toMatchObject({ idempotencyKey: 'order-42', status: 'PENDING' });
      const mine = (await t.ok(RUNS, { filter: { workflow: 'idempotent' } })).runs;
      expect(mine.totalCount).toBe(1);
      expect(mine.nodes.map((n: RunNode) => n.id)).toEqual([runId]);
      // A later call with the key returns the run too.
      expect((await t.ok(START, { workflow: 'idempotent', key: 'order-42' })).startRun.id).toBe(runId);

      const { key: other } = await t.app.services.auth.createKey('another-tenant');
      await t.ok(REGISTER, { input: parked('idempotent') }, other);
      const theirs = await Promise.all(Array.from({ length: 5 }, () => t.ok(START, { workflow: 'idempotent', key: 'order-42' }, other)));
      const theirIds = new Set(theirs.map((r) => r.startRun.id));
      expect(theirIds.size).toBe(1);
      expect(theirIds.has(runId!)).toBe(false);
      expect((await t.ok(RUNS, { filter: { workflow: 'idempotent' } }, other)).runs.totalCount).toBe(1);
      expect((await t.ok(RUNS, { filter: { workflow: 'idempotent' } })).runs.totalCount).toBe(1);
    });

    it('an idempotencyKey reused with another workflow, version or input is CONFLICT naming what differs; the same request returns the run', async () => {
      await t.ok(REGISTER, { input: parked('idem-a') });
      await t.ok(REGISTER, { input: parked('idem-b') });
      const first = (await t.ok(START, { workflow: 'idem-a', input: { n: 1, tags: ['x'] }, key: 'order-77' })).startRun;
      // The same request, its input keys in another order: the original run.
      expect((await t.ok(START, { workflow: 'idem-a', input: { tags: ['x'], n: 1 }, key: 'order-77' })).startRun.id).toBe(first.id);
      const conflicts: [Record<string, unknown>, string[]][] = [
        [{ workflow: 'idem-b', input: { n: 1, tags: ['x'] } }, ['workflow']],
        [{ workflow: 'idem-a', input: { n: 2, tags: ['x'] } }, ['input']],
        [{ workflow: 'idem-a', input: { n: 1, tags: ['x'] }, version: 1 }, ['version']],
        [{ workflow: 'idem-b', input: {} }, ['workflow', 'input']],
      ];
      for (const [request, differs] of conflicts) {
        const { data, errors } = await t.gql(START, { ...request, key: 'order-77' });
        expect(data, JSON.stringify(request)).toBeNull();
        expect(errors?.[0]?.extensions).toMatchObject({
          code: 'CONFLICT',
          reason: 'IDEMPOTENCY_KEY_REUSED',
          idempotencyKey: 'order-77',
          runId: first.id,
          differs,
        });
        expect(errors?.[0]?.message).toContain('order-77');
      }
      expect((await t.ok(RUNS, { filter: { workflow: 'idem-b' } })).runs.totalCount).toBe(0);
      expect((await t.ok(RUNS, { filter: { workflow: 'idem-a' } })).runs.totalCount).toBe(1);
    });

    it.each([
      ['empty', ''],
      ['longer than 256 characters', 'k'.repeat(257)],
    ])('an idempotencyKey that is %s is BAD_USER_INPUT', async (_name, key) => {
      const { errors } = await t.gql(START, { workflow: 'parked', key });
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'idempotencyKey' });
    });
  });

  describe('run(id)', () => {
    it.each([['not-a-uuid'], [''], ['123'], ["'; DROP TABLE runs; --"], ['00000000-0000-0000-0000-000000000000']])(
      'of %j is null, not an error',
      async (id) => {
        expect(await t.gql(RUN, { id })).toEqual({ data: { run: null } });
      },
    );

    it('of a run returns it', async () => {
      const { startRun } = await t.ok(START, { workflow: 'parked' });
      expect((await t.ok(RUN, { id: startRun.id })).run).toEqual({ id: startRun.id, status: 'PENDING' });
    });

    it('finds a run whose id is written in upper case, with its tasks (uuids ignore case)', async () => {
      const { startRun } = await t.ok(START, { workflow: 'parked' });
      const { run } = await t.ok(`query($id: ID!) { run(id: $id) { id tasks { key } } }`, { id: startRun.id.toUpperCase() });
      expect(run).toEqual({ id: startRun.id, tasks: [{ key: 'remote' }] });
    });
  });

  describe('runs(first, after)', () => {
    let key: string;
    const created: { id: string; createdAt: Date }[] = [];
    beforeAll(async () => {
      key = (await t.app.services.auth.createKey('paging')).key;
      await t.ok(REGISTER, { input: parked('paged') }, key);
      // 25 runs over 5 instants, 5 per instant: pages must break ties (by id) without losing any.
      for (let i = 0; i < 25; i++) {
        await clock.set(at(10 + Math.floor(i / 5)));
        const { startRun } = await t.ok(START, { workflow: 'paged' }, key);
        created.push({ id: startRun.id, createdAt: new Date(startRun.createdAt) });
        expect(startRun.createdAt).toBe(at(10 + Math.floor(i / 5)).toISOString());
      }
    });

    it('pages through 25 runs 10 at a time, newest first, with no duplicates or gaps', async () => {
      const pages: Page[] = [];
      let after: string | null = null;
      do {
        const { runs } = (await t.ok(RUNS, { first: 10, after }, key)) as { runs: Page };
        pages.push(runs);
        after = runs.pageInfo.hasNextPage ? runs.pageInfo.endCursor : null;
      } while (after !== null && pages.length < 10);

      expect(pages.map((p) => p.nodes.length)).toEqual([10, 10, 5]);
      expect(pages.map((p) => p.pageInfo.hasNextPage)).toEqual([true, true, false]);
      expect(pages.map((p) => p.totalCount)).toEqual([25, 25, 25]);
      const ids = pages.flatMap((p) => p.nodes.map((n) => n.id));
      expect(new Set(ids).size).toBe(25);
      expect(ids).toEqual(newestFirst(created).map((r) => r.id));

      // The last cursor leads to an empty page, not an error.
      const { runs: beyond } = await t.ok(RUNS, { first: 10, after: pages[2]!.pageInfo.endCursor }, key);
      expect(beyond).toEqual({ nodes: [], pageInfo: { endCursor: null, hasNextPage: false }, totalCount: 25 });
    });

    it('a cursor stays valid when newer runs arrive: the next page neither repeats nor skips', async () => {
      const first = ((await t.ok(RUNS, { first: 10 }, key)) as { runs: Page }).runs;
      await clock.set(at(30));
      const { startRun: newer } = await t.ok(START, { workflow: 'paged' }, key);
      const second = ((await t.ok(RUNS, { first: 10, after: first.pageInfo.endCursor }, key)) as { runs: Page }).runs;
      expect(second.nodes.map((n) => n.id)).toEqual(
        newestFirst(created)
          .slice(10, 20)
          .map((r) => r.id),
      );
      expect(second.totalCount).toBe(26);
      await t.ok(`mutation($id: ID!) { cancelRun(id: $id) { id } }`, { id: newer.id }, key);
      created.push({ id: newer.id, createdAt: at(30) });
    });

    it.each([
      ['garbage', 'garbage'],
      ['a cursor without an id', Buffer.from(at(0).toISOString()).toString('base64url')],
      ['a cursor with a bad id', Buffer.from(`${at(0).toISOString()}|not-a-uuid`).toString('base64url')],
      ['a cursor with a bad date', Buffer.from('yesterday|00000000-0000-0000-0000-000000000000').toString('base64url')],
    ])('after: %s is BAD_USER_INPUT', async (_name, after) => {
      const { data, errors } = await t.gql(RUNS, { first: 10, after }, key);
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(errors?.[0]?.message).toContain('"after" is not a cursor this API returned');
    });

    it.each([0, -3, 101])('first: %i is BAD_USER_INPUT', async (first) => {
      const { errors } = await t.gql(RUNS, { first }, key);
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    });
  });

  describe('runs as a Relay connection (edges, last/before, pageInfo both ways)', () => {
    const RELAY = `query($filter: RunFilter, $first: Int, $after: String, $last: Int, $before: String) {
      runs(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
        nodes { id }
        edges { cursor node { id } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        totalCount
      }
    }`;
    interface RelayPage {
      nodes: { id: string }[];
      edges: { cursor: string; node: { id: string } }[];
      pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
      totalCount: number;
    }
    let key: string;
    let all: string[];
    const page = async (vars: Record<string, unknown>): Promise<RelayPage> => ((await t.ok(RELAY, vars, key)) as { runs: RelayPage }).runs;
    beforeAll(async () => {
      key = (await t.app.services.auth.createKey('relay')).key;
      await t.ok(REGISTER, { input: parked('relay') }, key);
      const created: { id: string; createdAt: Date }[] = [];
      // 12 runs over 4 instants: ties broken by id, in both directions.
      for (let i = 0; i < 12; i++) {
        await clock.set(at(40 + Math.floor(i / 3)));
        const { startRun } = await t.ok(START, { workflow: 'relay' }, key);
        created.push({ id: startRun.id, createdAt: new Date(startRun.createdAt) });
      }
      all = newestFirst(created).map((r) => r.id);
    });

    it('edges hold the nodes in the same order, each with its cursor; start and end cursors are the first and last edge', async () => {
      const first = await page({ first: 5 });
      expect(first.edges.map((e) => e.node.id)).toEqual(first.nodes.map((n) => n.id));
      expect(first.nodes.map((n) => n.id)).toEqual(all.slice(0, 5));
      expect(first.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: first.edges[0]!.cursor, endCursor: first.edges[4]!.cursor });
      // Any edge's cursor is a place to continue from.
      const fromThird = await page({ first: 2, after: first.edges[2]!.cursor });
      expect(fromThird.nodes.map((n) => n.id)).toEqual(all.slice(3, 5));
      expect(fromThird.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    });

    it('pages backwards from the oldest run with last/before, with no duplicates or gaps', async () => {
      const pages: RelayPage[] = [];
      let before: string | null = null;
      do {
        const p = await page({ last: 5, before });
        pages.unshift(p);
        before = p.pageInfo.hasPreviousPage ? p.pageInfo.startCursor : null;
      } while (before !== null && pages.length < 10);
      expect(pages.map((p) => p.nodes.length)).toEqual([2, 5, 5]);
      expect(pages.flatMap((p) => p.nodes.map((n) => n.id))).toEqual(all);
      // Paging backwards, hasNextPage says whether runs follow `before`: none after the oldest page.
      expect(pages.map((p) => p.pageInfo)).toEqual([
        { hasNextPage: true, hasPreviousPage: false, startCursor: pages[0]!.edges[0]!.cursor, endCursor: pages[0]!.edges[1]!.cursor },
        { hasNextPage: true, hasPreviousPage: true, startCursor: pages[1]!.edges[0]!.cursor, endCursor: pages[1]!.edges[4]!.cursor },
        { hasNextPage: false, hasPreviousPage: true, startCursor: pages[2]!.edges[0]!.cursor, endCursor: pages[2]!.edges[4]!.cursor },
      ]);
      expect(pages.map((p) => p.totalCount)).toEqual([12, 12, 12]);
    });

    it('before without a size is the 20 (here: all) runs just before it; first with before reads from the start up to it', async () => {
      const top = await page({ first: 12 });
      const cursor = top.edges[7]!.cursor;
      expect((await page({ before: cursor })).nodes.map((n) => n.id)).toEqual(all.slice(0, 7));
      expect((await page({ last: 3, before: cursor })).nodes.map((n) => n.id)).toEqual(all.slice(4, 7));
      expect((await page({ first: 3, before: cursor })).nodes.map((n) => n.id)).toEqual(all.slice(0, 3));
      // Both cursors: the runs strictly between them.
      const between = await page({ first: 10, after: top.edges[2]!.cursor, before: cursor });
      expect(between.nodes.map((n) => n.id)).toEqual(all.slice(3, 7));
      expect(between.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    });

    it('pages backwards through a filtered listing', async () => {
      const filter = { workflow: 'relay', status: ['PENDING'] };
      const last = await page({ filter, last: 4 });
      expect(last.nodes.map((n) => n.id)).toEqual(all.slice(8));
      const before = await page({ filter, last: 4, before: last.pageInfo.startCursor });
      expect(before.nodes.map((n) => n.id)).toEqual(all.slice(4, 8));
      expect(before.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
      expect(before.totalCount).toBe(12);
    });

    it('an empty page has null cursors', async () => {
      const oldest = await page({ last: 1 });
      const beyond = await page({ first: 5, after: oldest.pageInfo.endCursor });
      expect(beyond).toEqual({
        nodes: [],
        edges: [],
        pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
        totalCount: 12,
      });
    });

    it.each([
      [{ first: 5, last: 5 }, 'last', 'Pass "first" (to page forwards) or "last" (to page backwards), not both'],
      [{ last: 0 }, 'last', '"last" must be between 1 and 100, got 0'],
      [{ last: 101 }, 'last', '"last" must be between 1 and 100, got 101'],
      [{ last: 5, before: 'garbage' }, 'before', '"before" is not a cursor this API returned: pass pageInfo.startCursor of the next page'],
      [{ before: Buffer.from('yesterday|00000000-0000-0000-0000-000000000000').toString('base64url') }, 'before', '"before" is not a cursor this API returned'],
    ])('%j is BAD_USER_INPUT naming %s', async (vars, field, message) => {
      const { data, errors } = await t.gql(RELAY, vars, key);
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(errors?.[0]?.message).toContain(message);
    });
  });

  describe('runs(filter)', () => {
    let key: string;
    const runs: { id: string; workflow: string; createdAt: Date; status: string }[] = [];
    beforeAll(async () => {
      key = (await t.app.services.auth.createKey('filters')).key;
      await t.ok(REGISTER, { input: parked('alpha') }, key);
      await t.ok(REGISTER, { input: parked('beta') }, key);
      await t.ok(REGISTER, { input: { name: 'gamma', steps: [{ key: 'a', type: 'noop' }] } }, key);
      const plan = ['alpha', 'alpha', 'alpha', 'beta', 'beta', 'gamma'];
      // waitForRun reads as the default tenant: wait on the engine's hook for this tenant's run.
      const gammaFinished = new Promise<string>((resolve) => {
        const listener = (e: { tenantId: string; workflow: string; status: string }) => {
          if (e.tenantId !== 'filters' || e.workflow !== 'gamma') return;
          t.app.hooks.off('run:finished', listener);
          resolve(e.status);
        };
        t.app.hooks.on('run:finished', listener);
      });
      for (const [i, workflow] of plan.entries()) {
        await clock.set(at(100 + i));
        const { startRun } = await t.ok(START, { workflow }, key);
        runs.push({ id: startRun.id, workflow, createdAt: at(100 + i), status: 'PENDING' });
      }
      const gamma = runs[5]!;
      expect(await gammaFinished).toBe('SUCCEEDED');
      gamma.status = (await t.ok(`query($id: ID!) { run(id: $id) { status } }`, { id: gamma.id }, key)).run.status;
      expect(gamma.status).toBe('SUCCEEDED');
      const cancelled = runs[1]!;
      cancelled.status = (await t.ok(`mutation($id: ID!) { cancelRun(id: $id) { status } }`, { id: cancelled.id }, key)).cancelRun.status;
      expect(cancelled.status).toBe('CANCELLED');
    });

    type Run = (typeof runs)[number];
    it.each<[string, Record<string, unknown>, (r: Run) => boolean]>([
      ['no filter', {}, () => true],
      ['workflow', { workflow: 'alpha' }, (r) => r.workflow === 'alpha'],
      ['an unknown workflow', { workflow: 'omega' }, () => false],
      ['one status', { status: ['PENDING'] }, (r) => r.status === 'PENDING'],
      ['a list of statuses', { status: ['CANCELLED', 'SUCCEEDED'] }, (r) => r.status !== 'PENDING'],
      ['a status nothing has', { status: ['FAILED'] }, () => false],
      ['createdAfter (inclusive)', { createdAfter: at(102).toISOString() }, (r) => r.createdAt >= at(102)],
      ['createdBefore (exclusive)', { createdBefore: at(102).toISOString() }, (r) => r.createdAt < at(102)],
      ['createdAfter 1 ms later', { createdAfter: at(102, 1).toISOString() }, (r) => r.createdAt > at(102)],
      [
        'a window, a workflow and statuses together',
        { createdAfter: at(101).toISOString(), createdBefore: at(104).toISOString(), workflow: 'alpha', status: ['PENDING', 'RUNNING'] },
        (r) => r.workflow === 'alpha' && r.status === 'PENDING' && r.createdAt >= at(101) && r.createdAt < at(104),
      ],
    ])('by %s', async (_name, filter, expected) => {
      const want = newestFirst(runs.filter(expected));
      const { runs: page } = (await t.ok(RUNS, { filter, first: 100 }, key)) as { runs: Page };
      expect(page.nodes.map((n) => n.id)).toEqual(want.map((r) => r.id));
      expect(page.nodes.map((n) => n.status)).toEqual(want.map((r) => r.status));
      expect(page.totalCount).toBe(want.length);
    });

    it('pages a filtered listing with its cursor', async () => {
      const filter = { status: ['PENDING', 'CANCELLED'] };
      const want = newestFirst(runs.filter((r) => r.status !== 'SUCCEEDED')).map((r) => r.id);
      const ids: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 10; i++) {
        const { runs: page } = (await t.ok(RUNS, { filter, first: 2, after }, key)) as { runs: Page };
        expect(page.totalCount).toBe(want.length);
        ids.push(...page.nodes.map((n) => n.id));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(ids).toEqual(want);
    });
  });

  describe('nested fields of a runs listing', () => {
    it('tasks and workflow of 30 runs are right, and tasks are loaded in one batch', async () => {
      const { key } = await t.app.services.auth.createKey('nested');
      await t.ok(REGISTER, { input: parked('nest', [{ key: 'a', type: 'work', queue: 'nobody-listens' }]) }, key);
      const v2 = parked('nest', [
        { key: 'a', type: 'work', queue: 'nobody-listens' },
        { key: 'b', type: 'work', queue: 'nobody-listens', dependsOn: ['a'] },
      ]);
      const started = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        if (i === 15) await t.ok(REGISTER, { input: v2 }, key);
        await clock.set(at(200 + i));
        started.set((await t.ok(START, { workflow: 'nest' }, key)).startRun.id, i < 15 ? 1 : 2);
      }

      const tasksOf = vi.spyOn(t.app.services.runs, 'tasksOf');
      const workflowsById = vi.spyOn(t.app.services.workflows, 'byIds');
      try {
        const { runs } = await t.ok(`{ runs(first: 30) { nodes { id tasks { key status } workflow { name version } } totalCount } }`, undefined, key);
        expect(runs.totalCount).toBe(30);
        expect(runs.nodes).toHaveLength(30);
        for (const node of runs.nodes as { id: string; tasks: { key: string; status: string }[]; workflow: { name: string; version: number } }[]) {
          const version = started.get(node.id);
          expect(node.workflow).toEqual({ name: 'nest', version });
          expect(node.tasks).toEqual(
            version === 1
              ? [{ key: 'a', status: 'QUEUED' }]
              : [
                  { key: 'a', status: 'QUEUED' },
                  { key: 'b', status: 'PENDING' },
                ],
          );
        }
        // One batch for all 30 runs' tasks and one for their (two distinct) workflows: no N+1.
        expect(tasksOf).toHaveBeenCalledTimes(1);
        expect(new Set(tasksOf.mock.calls[0]![1])).toEqual(new Set(started.keys()));
        expect(workflowsById).toHaveBeenCalledTimes(1);
        expect(workflowsById.mock.calls[0]![0]).toHaveLength(2);
      } finally {
        tasksOf.mockRestore();
        workflowsById.mockRestore();
      }
    });
  });
});
