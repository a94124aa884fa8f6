import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type GqlResult, type TestApp } from '../helpers/app';

/**
 * Issue 11 findings 1, 2 and 12 (JSON depth, reserved keys, lone surrogates) and issue 12 finding
 * 7b, through the API, at the default limits: sizes of inputs, outputs, definitions and template
 * expansion are refused before the work (or memory) they would cost, with LIMIT_EXCEEDED naming
 * the limit, and change nothing.
 */

const MIB = 1024 * 1024;
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version } }`;
const START = `mutation($workflow: String!, $input: JSON, $key: String) { startRun(workflow: $workflow, input: $input, idempotencyKey: $key) { id status } }`;
const CLAIM = `mutation($queue: String!) { claimTasks(queue: $queue, workerId: "w1", waitMs: 10000) { leaseToken task { id runId key } } }`;
const COMPLETE = `mutation($taskId: ID!, $token: String!, $output: JSON) { completeTask(taskId: $taskId, leaseToken: $token, output: $output) { id status } }`;
const COMPLETE_MANY = `mutation($results: [TaskCompletionInput!]!) { completeTasks(results: $results) { taskId task { status } error { code message } } }`;
const RUN_COUNT = `{ runs { totalCount } }`;

function nestedJson(depth: number): string {
  return '['.repeat(depth) + '1' + ']'.repeat(depth);
}

const rssMb = () => process.memoryUsage().rss / MIB;

describe('data-size limits', () => {
  let t: TestApp;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/deep') {
        // Issue 12 finding 7b: a response nested 100k levels deep (JSON.parse copes, storing it does not).
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(nestedJson(100_000));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestApp();
  });

  afterAll(async () => {
    await t?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  const rawGql = async (body: string) =>
    (await (await fetch(t.app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json()) as GqlResult;
  const runCount = async (): Promise<number> => (await t.ok(RUN_COUNT)).runs.totalCount;

  describe('template expansion (finding 1)', () => {
    const blob = 'x'.repeat(10 * 1024);
    // 10 KB × 10,000 = ~100 MB if expanded.
    const bomb = '{{ steps.a.output.blob }}'.repeat(10_000);

    it('fails a dependent step whose templates expand too far at once, without an attempt, and without the memory', async () => {
      await t.ok(REGISTER, {
        input: {
          name: 'bomb-dependent',
          steps: [
            { key: 'a', type: 'noop', input: { blob: '{{ input.blob }}' } },
            { key: 'b', type: 'noop', dependsOn: ['a'], input: { s: bomb }, retry: { maxAttempts: 100 } },
          ],
        },
      });
      const before = rssMb();
      const started = performance.now();
      const { startRun } = await t.ok(START, { workflow: 'bomb-dependent', input: { blob } });
      const run = await waitForRun(t, startRun.id);
      const ms = performance.now() - started;
      const grown = rssMb() - before;
      console.log(`dependent template bomb (10 KB × 10,000): run ${run.status} in ${ms.toFixed(0)} ms, RSS +${grown.toFixed(1)} MB`);
      expect(run.status).toBe('FAILED');
      const b = run.tasks.find((x: { key: string }) => x.key === 'b');
      expect(b).toMatchObject({ status: 'FAILED', attempt: 0, input: null });
      expect(b.error).toContain('MAX_TEMPLATE_STRING_BYTES');
      expect(grown).toBeLessThan(100);
    });

    it('refuses at startRun a run whose later step certainly expands too far (templates of the run input)', async () => {
      await t.ok(REGISTER, {
        input: {
          name: 'bomb-static',
          steps: [
            { key: 'a', type: 'noop' },
            { key: 'b', type: 'noop', dependsOn: ['a'], input: { s: '{{ input.blob }}'.repeat(10_000) } },
          ],
        },
      });
      const runs = await runCount();
      const res = await t.gql(START, { workflow: 'bomb-static', input: { blob } });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_TEMPLATE_STRING_BYTES', max: MIB, step: 'b' });
      expect(await runCount()).toBe(runs);
    });

    it('refuses a root step expanding past MAX_TEMPLATE_TASK_BYTES at startRun', async () => {
      const input = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, '{{ input.blob }}']));
      await t.ok(REGISTER, { input: { name: 'bomb-root', steps: [{ key: 'a', type: 'noop', input }] } });
      const res = await t.gql(START, { workflow: 'bomb-root', input: { blob } });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_TEMPLATE_TASK_BYTES', max: 4 * MIB, step: 'a' });
    });
  });

  describe('outputs (finding 2)', () => {
    it('fails a built-in step whose output is over MAX_OUTPUT_BYTES, and never stores it', async () => {
      // The finding: 1 MB copied 4× then 4× again stored a 16 MB output. The first step's output
      // (4 MB) is already over the cap: it fails, and the second never runs.
      const four = { a: '{{ input.s }}', b: '{{ input.s }}', c: '{{ input.s }}', d: '{{ input.s }}' };
      await t.ok(REGISTER, {
        input: {
          name: 'output-4x4',
          steps: [
            { key: 'x4', type: 'noop', input: four, retry: { maxAttempts: 3 } },
            { key: 'x16', type: 'noop', dependsOn: ['x4'], input: { a: '{{ steps.x4.output }}', b: '{{ steps.x4.output }}' } },
          ],
        },
      });
      const { startRun } = await t.ok(START, { workflow: 'output-4x4', input: { s: 'y'.repeat(1_000_000) } });
      const run = await waitForRun(t, startRun.id);
      expect(run.status).toBe('FAILED');
      const x4 = run.tasks.find((x: { key: string }) => x.key === 'x4');
      expect(x4).toMatchObject({ status: 'FAILED', attempt: 1, output: null });
      expect(x4.error).toMatch(/^OUTPUT_TOO_LARGE: .*MAX_OUTPUT_BYTES/);
      expect(run.output).toBeNull();
      expect(run.tasks.find((x: { key: string }) => x.key === 'x16').status).toBe('CANCELLED');
    });

    it("fails a run whose output (its last steps' outputs together) is over MAX_OUTPUT_BYTES, and never stores it", async () => {
      // Three last steps of 400 KB each: 1.2 MB. Before: stored whole (256 last steps: 256 MB in one row).
      const leaf = (key: string) => ({ key, type: 'noop', input: { s: '{{ input.s }}' } });
      await t.ok(REGISTER, { input: { name: 'wide-output', steps: [leaf('a'), leaf('b'), leaf('c')] } });
      const { startRun } = await t.ok(START, { workflow: 'wide-output', input: { s: 'w'.repeat(400_000) } });
      const run = await waitForRun(t, startRun.id);
      expect(run.status).toBe('FAILED');
      expect(run.output).toBeNull();
      expect(run.error).toMatch(/^OUTPUT_TOO_LARGE: the run's output \(the outputs of steps a, b, c, .*MAX_OUTPUT_BYTES/);
      expect(run.tasks.map((x: { status: string }) => x.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    });

    it("answers a worker's completeTask over the cap with LIMIT_EXCEEDED and fails the task, not retryably", async () => {
      await t.ok(REGISTER, { input: { name: 'remote-big', steps: [{ key: 'r', type: 'work', queue: 'limits-q', retry: { maxAttempts: 3 } }] } });
      const { startRun } = await t.ok(START, { workflow: 'remote-big' });
      const [lease] = (await t.ok(CLAIM, { queue: 'limits-q' })).claimTasks;
      const res = await t.gql(COMPLETE, { taskId: lease.task.id, token: lease.leaseToken, output: { s: 'z'.repeat(MIB) } });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_OUTPUT_BYTES', max: MIB, actual: MIB + 8 });
      const run = await waitForRun(t, startRun.id);
      expect(run.status).toBe('FAILED');
      expect(run.tasks[0]).toMatchObject({ status: 'FAILED', attempt: 1, output: null });
      expect(run.tasks[0].error).toMatch(/^OUTPUT_TOO_LARGE/);
    });

    it('answers an over-cap result in completeTasks on its own, the others recorded', async () => {
      await t.ok(REGISTER, { input: { name: 'remote-batch', steps: [{ key: 'r', type: 'work', queue: 'limits-batch' }] } });
      const a = (await t.ok(START, { workflow: 'remote-batch' })).startRun;
      const b = (await t.ok(START, { workflow: 'remote-batch' })).startRun;
      const leases = [...(await t.ok(CLAIM, { queue: 'limits-batch' })).claimTasks, ...(await t.ok(CLAIM, { queue: 'limits-batch' })).claimTasks];
      expect(leases).toHaveLength(2);
      const big = leases.find((l: { task: { runId: string } }) => l.task.runId === a.id);
      const small = leases.find((l: { task: { runId: string } }) => l.task.runId === b.id);
      const { completeTasks } = await t.ok(COMPLETE_MANY, {
        results: [
          { taskId: big.task.id, leaseToken: big.leaseToken, output: 'q'.repeat(MIB) },
          { taskId: small.task.id, leaseToken: small.leaseToken, output: { ok: true } },
        ],
      });
      expect(completeTasks[0]).toMatchObject({ task: null, error: { code: 'LIMIT_EXCEEDED' } });
      expect(completeTasks[1]).toMatchObject({ task: { status: 'SUCCEEDED' }, error: null });
      expect((await waitForRun(t, a.id)).status).toBe('FAILED');
    });

    it('fails an http step whose response is nested 100k levels deep at once (issue 12, finding 7b)', async () => {
      await t.ok(REGISTER, { input: { name: 'deep-http', steps: [{ key: 'h', type: 'http', input: { url: `${base}/deep` }, retry: { maxAttempts: 3 } }] } });
      const started = performance.now();
      const { startRun } = await t.ok(START, { workflow: 'deep-http' });
      const run = await waitForRun(t, startRun.id, 10_000);
      console.log(`100k-deep http response: run ${run.status} after ${(performance.now() - started).toFixed(0)} ms`);
      expect(run.status).toBe('FAILED');
      expect(run.tasks[0]).toMatchObject({ status: 'FAILED', attempt: 1, output: null });
      expect(run.tasks[0].error).toMatch(/^OUTPUT_TOO_DEEP: .*MAX_JSON_DEPTH/);
    });
  });

  describe('fan-outs (a forEach step writes its items in one transition and fans their outputs in)', () => {
    const RUN_ITEMS = `query($id: ID!) { run(id: $id) { status tasks { key status error parentTaskId output } } }`;

    it('refuses items whose inputs together expand past MAX_TEMPLATE_TASK_BYTES, creating none', async () => {
      // 50 items × 100 KB = 5 MB > 4 MiB. Before: all created (600 items of 1 MB wedged the transition at 1.4 GB).
      const blob = 'b'.repeat(100_000);
      const items = Array.from({ length: 50 }, (_, i) => i);
      await t.ok(REGISTER, {
        input: {
          name: 'fat-items',
          steps: [
            { key: 'a', type: 'noop' },
            { key: 'each', type: 'work', queue: 'nobody', dependsOn: ['a'], forEach: 'input.items', input: { b: '{{ input.blob }}' } },
          ],
        },
      });
      const { startRun } = await t.ok(START, { workflow: 'fat-items', input: { items, blob } });
      const run = await waitForRun(t, startRun.id);
      expect(run.status).toBe('FAILED');
      const { run: view } = await t.ok(RUN_ITEMS, { id: startRun.id });
      const each = view.tasks.find((x: { key: string; parentTaskId: string | null }) => x.key === 'each' && x.parentTaskId === null);
      expect(each).toMatchObject({ status: 'FAILED' });
      expect(each.error).toMatch(/50 items of step "each" would expand to more than 4194304 bytes together \(MAX_TEMPLATE_TASK_BYTES\)/);
      expect(view.tasks.filter((x: { parentTaskId: string | null }) => x.parentTaskId !== null)).toEqual([]);
      // A root step's items: refused at startRun, nothing created.
      await t.ok(REGISTER, {
        input: { name: 'fat-root-items', steps: [{ key: 'each', type: 'noop', forEach: 'input.items', input: { b: '{{ input.blob }}' } }] },
      });
      const runs = await runCount();
      const refused = await t.gql(START, { workflow: 'fat-root-items', input: { items, blob } });
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_TEMPLATE_TASK_BYTES', max: 4 * MIB });
      expect(await runCount()).toBe(runs);
    });

    it("fails an item whose output is over its share of MAX_OUTPUT_BYTES: the step's output holds every item's", async () => {
      // 4 items: 262,144 bytes each. Before: each item could store 1 MB, and the fan-in loaded and
      // stored them all (10,000 items: 10 GB).
      await t.ok(REGISTER, { input: { name: 'fan-share', steps: [{ key: 'each', type: 'work', queue: 'share-q', forEach: 'input.items' }] } });
      const { startRun } = await t.ok(START, { workflow: 'fan-share', input: { items: [0, 1, 2, 3] } });
      const leases: { leaseToken: string; task: { id: string } }[] = [];
      while (leases.length < 4) leases.push(...(await t.ok(CLAIM, { queue: 'share-q' })).claimTasks);
      const [big, ...small] = leases;
      for (const l of small) await t.ok(COMPLETE, { taskId: l.task.id, token: l.leaseToken, output: { ok: true } });
      await t.ok(COMPLETE, { taskId: big!.task.id, token: big!.leaseToken, output: { s: 'z'.repeat(300_000) } });
      const run = await waitForRun(t, startRun.id);
      expect(run.status).toBe('FAILED');
      const { run: view } = await t.ok(RUN_ITEMS, { id: startRun.id });
      const item = view.tasks.find((x: { parentTaskId: string | null; status: string }) => x.parentTaskId !== null && x.status === 'FAILED');
      expect(item.output).toBeNull();
      expect(item.error).toMatch(/^OUTPUT_TOO_LARGE: item \d output is over 262144 bytes, its share of MAX_OUTPUT_BYTES \(1048576\) among the 4 items/);
    });
  });

  describe('inputs and definitions', () => {
    it('refuses a run input over MAX_INPUT_BYTES and one nested past MAX_JSON_DEPTH, creating nothing', async () => {
      await t.ok(REGISTER, { input: { name: 'plain', steps: [{ key: 'a', type: 'noop' }] } });
      const runs = await runCount();
      const big = await t.gql(START, { workflow: 'plain', input: { s: 'x'.repeat(MIB) } });
      expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_INPUT_BYTES', max: MIB, actual: MIB + 8 });
      const deep = await t.gql(START, { workflow: 'plain', input: JSON.parse(nestedJson(65)) });
      expect(deep.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_JSON_DEPTH', max: 64 });
      expect(await runCount()).toBe(runs);
    });

    it('refuses a definition over MAX_DEFINITION_BYTES, a step input over MAX_INPUT_BYTES and more than MAX_STEPS_PER_WORKFLOW steps', async () => {
      const steps = Array.from({ length: 3 }, (_, i) => ({ key: `s${i}`, type: 'noop', input: { s: 'x'.repeat(400_000) } }));
      const whole = await t.gql(REGISTER, { input: { name: 'too-big', steps } });
      expect(whole.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_DEFINITION_BYTES', max: MIB });
      const one = await t.gql(REGISTER, { input: { name: 'too-big', steps: [{ key: 'a', type: 'noop', input: { s: 'x'.repeat(MIB) } }] } });
      expect(one.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_INPUT_BYTES' });
      const many = await t.gql(REGISTER, { input: { name: 'too-big', steps: Array.from({ length: 257 }, (_, i) => ({ key: `s${i}`, type: 'noop' })) } });
      expect(many.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_STEPS_PER_WORKFLOW', max: 256, actual: 257 });
      expect((await t.ok(`{ workflow(name: "too-big") { id } }`)).workflow).toBeNull();
    });
  });

  describe('input schemas', () => {
    it('refuses a uniqueItems that would compare every pair of a large input, at registration', async () => {
      // Before: accepted, and a startRun of 20,000 objects held the event loop 9 s (300,000 in a 1 MB input: most of an hour).
      const res = await t.gql(REGISTER, {
        input: {
          name: 'pairwise',
          inputSchema: { type: 'object', properties: { l: { type: 'array', uniqueItems: true } } },
          steps: [{ key: 'a', type: 'noop' }],
        },
      });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_INPUT_SCHEMA' });
      expect(res.errors?.[0]?.message).toMatch(/"uniqueItems" needs "items" of a scalar "type"/);
      await t.ok(REGISTER, {
        input: {
          name: 'pairwise-ok',
          inputSchema: { type: 'object', properties: { l: { type: 'array', items: { type: 'string' }, uniqueItems: true } } },
          steps: [{ key: 'a', type: 'noop' }],
        },
      });
      const started = performance.now();
      const refused = await t.gql(START, { workflow: 'pairwise-ok', input: { l: Array.from({ length: 20_000 }, (_, i) => ({ a: [i] })) } });
      expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(performance.now() - started).toBeLessThan(3_000);
    });
  });

  describe('the GraphQL boundary (finding 12)', () => {
    it.each([
      // Sent as text: JSON.stringify of a value this deep overflows the test's own stack.
      ['a variable', () => rawGql(`{"query":${JSON.stringify(START)},"variables":{"workflow":"plain","input":${nestedJson(5_000)}}}`)],
      ['a literal', () => t.gql(`mutation { startRun(workflow: "plain", input: ${nestedJson(5_000)}) { id } }`)],
      ['a nested object literal', () => t.gql(`mutation { startRun(workflow: "plain", input: ${'{a:'.repeat(1_500)}1${'}'.repeat(1_500)}) { id } }`)],
    ])('answers JSON nested 5,000 levels deep in %s with a typed error, never INTERNAL_SERVER_ERROR', async (_name, send) => {
      const res = await send();
      const code = res.errors?.[0]?.extensions?.code;
      console.log(`deep JSON: ${String(code)} ${res.errors?.[0]?.message.slice(0, 120)}`);
      expect(['BAD_USER_INPUT', 'LIMIT_EXCEEDED', 'GRAPHQL_PARSE_FAILED']).toContain(code);
      // What the runtime said stays inside (finding 9).
      expect(JSON.stringify(res.errors)).not.toMatch(/Maximum call stack/);
    });

    it('refuses a step keyed __proto__, constructor or prototype', async () => {
      for (const key of ['__proto__', 'constructor', 'prototype']) {
        const res = await t.gql(REGISTER, { input: { name: 'reserved', steps: [{ key, type: 'noop' }] } });
        expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_KEY', step: key });
      }
    });

    it('refuses __proto__ keys, NUL characters and lone surrogates inside JSON', async () => {
      for (const input of [JSON.parse('{"a":{"__proto__":{"x":1}}}'), { a: 'nul\u0000' }, { a: 'half \uD83D' }]) {
        const res = await t.gql(START, { workflow: 'plain', input });
        expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      }
      const literal = await t.gql(`mutation { startRun(workflow: "plain", input: { __proto__: { x: 1 } }) { id } }`);
      expect(literal.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });

    it('refuses lone surrogates in idempotency keys instead of collapsing different keys into one', async () => {
      const runs = await runCount();
      const one = await t.gql(START, { workflow: 'plain', key: 'order-\uD800' });
      const two = await t.gql(START, { workflow: 'plain', key: 'order-\uD801' });
      for (const res of [one, two]) expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'idempotencyKey' });
      expect(await runCount()).toBe(runs);
      const worker = await t.gql(`mutation($w: String!) { claimTasks(queue: "q", workerId: $w) { leaseToken } }`, { w: 'w\uDC00' });
      expect(worker.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'workerId' });
    });
  });
});
