import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { REAL_POSTGRES } from '../helpers/db';

/**
 * The workflow API through GraphQL: every definition error a client can get from
 * registerWorkflow (code, machine-readable reason, a message that names the problem), versioning
 * of definitions, and the workflows listing.
 */

const REGISTER = `mutation($input: WorkflowInput!) {
  registerWorkflow(input: $input) { id name version description steps { key type queue dependsOn input timeoutMs retry { maxAttempts initialDelayMs backoffFactor maxDelayMs maxFaults } } }
}`;
const WORKFLOW = `query($name: String!, $version: Int) { workflow(name: $name, version: $version) { id name version steps { key input dependsOn } } }`;
const WORKFLOWS = `query($first: Int, $after: String) {
  workflows(first: $first, after: $after) { nodes { name version } pageInfo { endCursor hasNextPage } totalCount }
}`;

type StepIn = Record<string, unknown>;
const step = (key: string, extra: StepIn = {}): StepIn => ({ key, type: 'noop', ...extra });

describe('workflows API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('registerWorkflow rejects invalid definitions with BAD_USER_INPUT', () => {
    interface Case {
      name: string;
      input: { name: string; steps: StepIn[] };
      reason: string;
      /** Substrings the message must contain: what is wrong and where. */
      message: (string | RegExp)[];
      /** Further extensions the error must carry. */
      extensions?: Record<string, unknown>;
    }
    const cases: Case[] = [
      {
        name: 'a dependency cycle, with its path',
        input: {
          name: 'wf-cycle',
          steps: [step('start'), step('a', { dependsOn: ['start', 'c'] }), step('b', { dependsOn: ['a'] }), step('c', { dependsOn: ['b'] })],
        },
        reason: 'CYCLE',
        message: ['cycle', 'a → c → b → a'],
        extensions: { path: ['a', 'c', 'b', 'a'] },
      },
      {
        name: 'a step depending on itself',
        input: { name: 'wf-self', steps: [step('a', { dependsOn: ['a'] })] },
        reason: 'SELF_DEPENDENCY',
        message: ['"a" depends on itself'],
        extensions: { step: 'a', path: ['a', 'a'] },
      },
      {
        name: 'an unknown dependency',
        input: { name: 'wf-unknown-dep', steps: [step('a'), step('b', { dependsOn: ['a', 'ghost'] })] },
        reason: 'UNKNOWN_DEPENDENCY',
        message: ['"b" depends on "ghost"', 'declared steps: a, b'],
        extensions: { step: 'b', dependency: 'ghost' },
      },
      {
        name: 'a duplicate key',
        input: { name: 'wf-dup', steps: [step('a'), step('b'), step('a')] },
        reason: 'DUPLICATE_KEY',
        message: ['"a" twice', 'steps[0] and steps[2]'],
        extensions: { step: 'a', indexes: [0, 2] },
      },
      {
        name: 'an unknown built-in type (no queue)',
        input: { name: 'wf-type', steps: [step('mail', { type: 'email' })] },
        reason: 'UNKNOWN_BUILT_IN_TYPE',
        message: ['"email"', 'not built in', 'noop, sleep, http', 'queue'],
        extensions: { step: 'mail', type: 'email' },
      },
      {
        name: 'an empty type on a queue',
        input: { name: 'wf-empty-type', steps: [step('remote', { type: '', queue: 'q' })] },
        reason: 'INVALID_TYPE',
        message: ['"remote"', 'invalid type ""'],
      },
      {
        name: 'an invalid queue',
        input: { name: 'wf-queue', steps: [step('remote', { type: 'email', queue: 'bad queue!' })] },
        reason: 'INVALID_QUEUE',
        message: ['invalid queue "bad queue!"'],
      },
      {
        name: 'an empty workflow',
        input: { name: 'wf-empty', steps: [] },
        reason: 'EMPTY_WORKFLOW',
        message: ['"wf-empty" has no steps'],
      },
      ...['has space', '1st', '', 'x'.repeat(129), 'ünïcode'].map((name) => ({
        name: `invalid workflow name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 10)}…` : name)}`,
        input: { name, steps: [step('a')] },
        reason: 'INVALID_NAME',
        message: ['Workflow name', 'is invalid'],
        extensions: { name },
      })),
      ...['a.b', '', '9lives', 'has space', 'k'.repeat(65)].map((key) => ({
        name: `invalid step key ${JSON.stringify(key.length > 20 ? `${key.slice(0, 10)}…` : key)}`,
        input: { name: 'wf-key', steps: [step('ok'), step(key)] },
        reason: 'INVALID_KEY',
        message: ['steps[1] has invalid key'],
        extensions: { step: key, index: 1 },
      })),
      ...(
        [
          [{ maxAttempts: 0 }, 'maxAttempts', 0],
          [{ maxAttempts: 101 }, 'maxAttempts', 101],
          [{ initialDelayMs: -1 }, 'initialDelayMs', -1],
          [{ backoffFactor: 0.5 }, 'backoffFactor', 0.5],
          [{ initialDelayMs: 5000, maxDelayMs: 1000 }, 'maxDelayMs', 1000],
          [{ maxDelayMs: 7 * 24 * 3600 * 1000 + 1 }, 'maxDelayMs', 7 * 24 * 3600 * 1000 + 1],
        ] as const
      ).map(([retry, field, value]) => ({
        name: `invalid retry ${JSON.stringify(retry)}`,
        input: { name: 'wf-retry', steps: [step('a', { retry })] },
        reason: 'INVALID_RETRY',
        message: [`"a" has retry.${field} ${value}`],
        extensions: { step: 'a', field, value },
      })),
      ...[0, -5, 7 * 24 * 3600 * 1000 + 1].map((timeoutMs) => ({
        name: `invalid timeoutMs ${timeoutMs}`,
        input: { name: 'wf-timeout', steps: [step('a', { timeoutMs })] },
        reason: 'INVALID_TIMEOUT',
        message: [`"a" has timeoutMs ${timeoutMs}`],
        extensions: { step: 'a', value: timeoutMs },
      })),
      {
        name: 'a template reading a step that is not a dependency',
        input: {
          name: 'wf-tpl-dep',
          steps: [step('a'), step('b', { input: { x: '{{ steps.a.output.x }}' } })],
        },
        reason: 'TEMPLATE_REFERENCES_NON_DEPENDENCY',
        message: ['"b"', '{{ steps.a.output.x }}', '"a" is not a dependency of "b"'],
        extensions: { step: 'b', dependency: 'a', template: '{{ steps.a.output.x }}' },
      },
      {
        name: 'a template reading a step that does not exist',
        input: { name: 'wf-tpl-ghost', steps: [step('a', { input: { x: 'id={{ steps.ghost.output }}' } })] },
        reason: 'TEMPLATE_REFERENCES_NON_DEPENDENCY',
        message: ['no step "ghost"'],
        extensions: { step: 'a', dependency: 'ghost' },
      },
      {
        name: 'a template reading its own output',
        input: { name: 'wf-tpl-own', steps: [step('a', { input: '{{ steps.a.output }}' })] },
        reason: 'TEMPLATE_REFERENCES_NON_DEPENDENCY',
        message: ['cannot read its own output'],
      },
      ...(
        [
          ['{{ input.x', 'no closing "}}"'],
          ['{{ }}', 'the path is empty'],
          ['{{ env.HOME }}', 'unknown root "env"'],
          ['{{ input..x }}', 'expected a name or an index'],
          ['{{ input.items[x] }}', 'expected a number and "]"'],
          ['{{ steps.a.body }}', 'steps.a.output'],
        ] as const
      ).map(([template, why]) => ({
        name: `a malformed template ${template}`,
        input: { name: 'wf-tpl-bad', steps: [step('a'), step('b', { dependsOn: ['a'], input: { nested: [{ v: template }] } })] },
        reason: 'INVALID_TEMPLATE',
        message: ['"b"', 'invalid template', why],
        extensions: { step: 'b', template },
      })),
    ];

    it.each(cases)('$name', async ({ input, reason, message, extensions }) => {
      const { data, errors } = await t.gql(REGISTER, { input });
      expect(data).toBeNull();
      expect(errors).toHaveLength(1);
      const [error] = errors!;
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason, ...extensions });
      for (const m of message) {
        if (typeof m === 'string') expect(error.message).toContain(m);
        else expect(error.message).toMatch(m);
      }
      // Nothing was stored: a rejected definition does not become a version.
      expect((await t.ok(WORKFLOW, { name: input.name })).workflow).toBeNull();
    });
  });

  describe('versioning', () => {
    const base = {
      name: 'orders',
      description: 'Ships an order',
      steps: [
        { key: 'fetch', type: 'noop', input: { order: '{{ input.orderId }}', opts: { a: 1, b: [1, 2], c: { y: 2, x: 1 } } } },
        { key: 'price', type: 'noop', input: {} },
        {
          key: 'ship',
          type: 'ship-it',
          queue: 'shipping',
          dependsOn: ['fetch', 'price'],
          input: { order: '{{ steps.fetch.output.order }}' },
          retry: { maxAttempts: 3, backoffFactor: 1.5 },
          timeoutMs: 60_000,
        },
      ],
    };

    it('registers version 1 with the defaults filled in', async () => {
      const { registerWorkflow: wf } = await t.ok(REGISTER, { input: base });
      expect(wf).toMatchObject({ name: 'orders', version: 1, description: 'Ships an order' });
      expect(wf.steps[0]).toEqual({
        key: 'fetch',
        type: 'noop',
        queue: null,
        dependsOn: [],
        input: base.steps[0].input,
        timeoutMs: null,
        retry: { maxAttempts: 3, initialDelayMs: 1000, backoffFactor: 2, maxDelayMs: 60000, maxFaults: 10 },
      });
      expect(wf.steps[2]).toMatchObject({
        queue: 'shipping',
        dependsOn: ['fetch', 'price'],
        timeoutMs: 60_000,
        retry: { maxAttempts: 3, initialDelayMs: 1000, backoffFactor: 1.5, maxDelayMs: 60000, maxFaults: 10 },
      });
    });

    const same: [string, unknown][] = [
      ['the identical definition', base],
      [
        'the same definition with JSON keys reordered at every depth',
        {
          steps: [
            { input: { opts: { c: { x: 1, y: 2 }, b: [1, 2], a: 1 }, order: '{{ input.orderId }}' }, type: 'noop', key: 'fetch' },
            { type: 'noop', key: 'price', input: {} },
            {
              timeoutMs: 60_000,
              retry: { backoffFactor: 1.5, maxAttempts: 3 },
              input: { order: '{{ steps.fetch.output.order }}' },
              dependsOn: ['fetch', 'price'],
              queue: 'shipping',
              type: 'ship-it',
              key: 'ship',
            },
          ],
          description: 'Ships an order',
          name: 'orders',
        },
      ],
      [
        'the same definition with dependsOn reordered (and repeated)',
        { ...base, steps: [base.steps[0], base.steps[1], { ...base.steps[2], dependsOn: ['price', 'fetch', 'price'] }] },
      ],
      [
        'the same definition with the defaults spelled out',
        {
          ...base,
          steps: [
            {
              ...base.steps[0],
              queue: null,
              dependsOn: [],
              timeoutMs: null,
              retry: { maxAttempts: 3, initialDelayMs: 1000, backoffFactor: 2, maxDelayMs: 60000, maxFaults: 10 },
            },
            { key: 'price', type: 'noop' },
            { ...base.steps[2], retry: { maxAttempts: 3, backoffFactor: 1.5, initialDelayMs: 1000 } },
          ],
        },
      ],
    ];
    it.each(same)('%s returns the existing version', async (_name, input) => {
      const v1 = (await t.ok(WORKFLOW, { name: 'orders', version: 1 })).workflow;
      const { registerWorkflow } = await t.ok(REGISTER, { input });
      expect(registerWorkflow).toMatchObject({ id: v1.id, version: 1 });
    });

    it('a changed definition becomes version 2; workflow(name) returns the latest, workflow(name, version) any', async () => {
      const changed = { ...base, steps: [{ ...base.steps[0], input: { ...base.steps[0].input, priority: 'high' } }, base.steps[1], base.steps[2]] };
      const { registerWorkflow: v2 } = await t.ok(REGISTER, { input: changed });
      expect(v2).toMatchObject({ name: 'orders', version: 2 });
      // Registering v2 again is still v2.
      expect((await t.ok(REGISTER, { input: changed })).registerWorkflow).toMatchObject({ id: v2.id, version: 2 });

      const latest = (await t.ok(WORKFLOW, { name: 'orders' })).workflow;
      expect(latest).toMatchObject({ id: v2.id, version: 2 });
      expect(latest.steps[0].input).toMatchObject({ priority: 'high' });

      const old = (await t.ok(WORKFLOW, { name: 'orders', version: 1 })).workflow;
      expect(old.version).toBe(1);
      expect(old.id).not.toBe(v2.id);
      expect(old.steps[0].input).not.toHaveProperty('priority');
    });

    it.each([
      ['an unknown name', { name: 'no-such-workflow' }],
      ['an unknown version', { name: 'orders', version: 99 }],
    ])('workflow() of %s is null', async (_name, vars) => {
      expect(await t.gql(WORKFLOW, vars)).toEqual({ data: { workflow: null } });
    });

    // Embedded PGlite serializes transactions, so the race is real only on a Postgres server; the
    // outcome must be the same on both.
    const racing = REAL_POSTGRES ? 'racing on a Postgres server' : 'serialized by embedded PGlite';

    it(`10 different definitions registered concurrently under one name get versions 1..10 (${racing})`, async () => {
      const inputs = Array.from({ length: 10 }, (_, i) => ({ name: 'racy', steps: [{ key: 'only', type: 'noop', input: { variant: i } }] }));
      const results = await Promise.all(inputs.map((input) => t.gql(REGISTER, { input })));
      for (const r of results) expect(r.errors).toBeUndefined();
      const registered = results.map((r) => r.data.registerWorkflow as { id: string; version: number; steps: { input: { variant: number } }[] });
      expect(registered.map((w) => w.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(new Set(registered.map((w) => w.id)).size).toBe(10);
      // Each version holds the definition that got it.
      for (const w of registered) {
        const stored = (await t.ok(WORKFLOW, { name: 'racy', version: w.version })).workflow;
        expect(stored.id).toBe(w.id);
        expect(stored.steps[0].input).toEqual(w.steps[0].input);
      }
      expect((await t.ok(WORKFLOW, { name: 'racy' })).workflow.version).toBe(10);
    });

    it(`the same definition registered concurrently becomes one version (${racing})`, async () => {
      const input = { name: 'racy-same', steps: [{ key: 'only', type: 'noop' }] };
      const results = await Promise.all(Array.from({ length: 10 }, () => t.ok(REGISTER, { input })));
      expect(new Set(results.map((r) => r.registerWorkflow.id)).size).toBe(1);
      expect(results.every((r) => r.registerWorkflow.version === 1)).toBe(true);
    });
  });

  describe('workflows(first, after)', () => {
    // A tenant of its own, so the other tests' workflows do not count.
    let key: string;
    const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf'];
    beforeAll(async () => {
      key = (await t.app.services.auth.createKey('paging')).key;
      // Registered out of order; "delta" gets a second version, listed once as its latest.
      for (const name of [...names].reverse()) {
        await t.ok(REGISTER, { input: { name, steps: [{ key: 'a', type: 'noop' }] } }, key);
      }
      await t.ok(REGISTER, { input: { name: 'delta', steps: [{ key: 'b', type: 'noop' }] } }, key);
    });

    it('pages through 7 workflows 3 at a time, by name, latest version each', async () => {
      type Page = { nodes: { name: string; version: number }[]; pageInfo: { endCursor: string | null; hasNextPage: boolean }; totalCount: number };
      const pages: Page[] = [];
      let after: string | null = null;
      do {
        const { workflows }: { workflows: Page } = await t.ok(WORKFLOWS, { first: 3, after }, key);
        pages.push(workflows);
        after = workflows.pageInfo.hasNextPage ? workflows.pageInfo.endCursor : null;
      } while (after !== null && pages.length < 10);

      expect(pages.map((p) => p.nodes.map((n) => n.name))).toEqual([names.slice(0, 3), names.slice(3, 6), names.slice(6)]);
      expect(pages.map((p) => p.pageInfo.hasNextPage)).toEqual([true, true, false]);
      expect(pages.map((p) => p.totalCount)).toEqual([7, 7, 7]);
      expect(pages.flatMap((p) => p.nodes).find((n) => n.name === 'delta')?.version).toBe(2);
      // The last page's cursor leads to an empty page.
      const { workflows: beyond } = await t.ok(WORKFLOWS, { first: 3, after: pages[2].pageInfo.endCursor }, key);
      expect(beyond).toEqual({ nodes: [], pageInfo: { endCursor: null, hasNextPage: false }, totalCount: 7 });
    });

    it('returns everything in one page when first is large enough, and defaults without first', async () => {
      for (const first of [7, 100, null]) {
        const { workflows } = await t.ok(WORKFLOWS, { first }, key);
        expect(workflows.nodes.map((n: { name: string }) => n.name)).toEqual(names);
        expect(workflows.pageInfo.hasNextPage).toBe(false);
      }
    });

    it.each(['zzzz', Buffer.from('not a cursor').toString('base64url'), Buffer.from('workflow:bad name!').toString('base64url')])(
      'after: %j (not a cursor it returned) is BAD_USER_INPUT',
      async (after) => {
        const { errors } = await t.gql(WORKFLOWS, { first: 3, after });
        expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
      },
    );

    it('pages backwards by name with last/before, and edges carry the cursors', async () => {
      const RELAY = `query($last: Int, $before: String) {
        workflows(last: $last, before: $before) { nodes { name } edges { cursor node { name version } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
      }`;
      type Relay = {
        nodes: { name: string }[];
        edges: { cursor: string; node: { name: string; version: number } }[];
        pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
      };
      const pages: Relay[] = [];
      let before: string | null = null;
      do {
        const { workflows }: { workflows: Relay } = await t.ok(RELAY, { last: 3, before }, key);
        pages.unshift(workflows);
        before = workflows.pageInfo.hasPreviousPage ? workflows.pageInfo.startCursor : null;
      } while (before !== null && pages.length < 10);
      expect(pages.map((p) => p.nodes.map((n) => n.name))).toEqual([names.slice(0, 1), names.slice(1, 4), names.slice(4)]);
      expect(pages.map((p) => [p.pageInfo.hasPreviousPage, p.pageInfo.hasNextPage])).toEqual([
        [false, true],
        [true, true],
        [true, false],
      ]);
      for (const p of pages) {
        expect(p.edges.map((e) => e.node.name)).toEqual(p.nodes.map((n) => n.name));
        expect([p.pageInfo.startCursor, p.pageInfo.endCursor]).toEqual([p.edges[0]!.cursor, p.edges.at(-1)!.cursor]);
      }
      expect(pages.flatMap((p) => p.edges).find((e) => e.node.name === 'delta')?.node.version).toBe(2);
      // A forward page from any edge's cursor knows there are workflows before it.
      const { workflows: next } = await t.ok(
        `query($after: String) { workflows(first: 2, after: $after) { nodes { name } pageInfo { hasPreviousPage } } }`,
        { after: pages[1]!.edges[0]!.cursor },
        key,
      );
      expect(next).toEqual({ nodes: [{ name: 'charlie' }, { name: 'delta' }], pageInfo: { hasPreviousPage: true } });
    });

    it.each([
      [{ first: 2, last: 2 }, 'last'],
      [{ last: 0 }, 'last'],
      [{ last: 101 }, 'last'],
      [{ before: Buffer.from('workflow:bad name!').toString('base64url') }, 'before'],
    ])('%j is BAD_USER_INPUT naming %s', async (vars, field) => {
      const { data, errors } = await t.gql(
        `query($first: Int, $last: Int, $before: String) { workflows(first: $first, last: $last, before: $before) { totalCount } }`,
        vars,
        key,
      );
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    });

    it.each([0, -1, 101])('first: %i is BAD_USER_INPUT', async (first) => {
      const { data, errors } = await t.gql(WORKFLOWS, { first }, key);
      expect(data).toBeNull();
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
      expect(errors?.[0]?.message).toContain('"first" must be between 1 and 100');
    });
  });
});
