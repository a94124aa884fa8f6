import fc from 'fast-check';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type GqlResult, type TestApp } from '../helpers/app';
import type { Transport } from '../helpers/transports';

/**
 * The hostile-input suite (issue 11, "Done means"): generated documents and variables — random
 * and mutated queries, deep nesting, many aliases, huge strings, fragment cycles, directives, bad
 * JSON bodies — over HTTP and both WebSocket protocols. Nothing may answer 5xx, close a socket as
 * an internal error, or leak an internal message; the server must still answer afterwards, its
 * RSS must stay bounded, and a document must meet the same limits on every transport.
 */
const SEED = 0x5eed_11;
const CASES = 1_050;
const SAME_ON_ALL = 150;
const RSS_GROWTH_MAX = 400 * 1024 * 1024;

type Result = GqlResult & { status?: number; closed?: number };

// --- generators -----------------------------------------------------------------------------

const name = fc.constantFrom(
  'runs',
  'run',
  'workflows',
  'workflow',
  'nodes',
  'edges',
  'node',
  'tasks',
  'events',
  'attempts',
  'id',
  'status',
  'input',
  'output',
  'steps',
  'key',
  'seq',
  'pageInfo',
  'totalCount',
  '__typename',
  '__schema',
  '__type',
  'x',
  'claimTasks',
);
const argValue = fc.oneof(
  fc.integer({ min: -5, max: 200 }).map(String),
  fc.constantFrom('"00000000-0000-0000-0000-000000000000"', '"abc"', 'null', 'true', '$v', '{a: 1}', '[1, 2]', '"' + 'x'.repeat(300) + '"', 'RUNNING', '1e400'),
);
const args = fc.array(fc.tuple(fc.constantFrom('first', 'last', 'id', 'name', 'after', 'afterSeq', 'max', 'filter', 'version', 'queue'), argValue), {
  maxLength: 3,
});
const directive = fc.constantFrom(
  '',
  '',
  '',
  ' @include(if: true)',
  ' @skip(if: false)',
  ' @include(if: $v)',
  ' @deprecated',
  ' @skip(if: true) @include(if: true)',
);

const selection: fc.Arbitrary<string> = fc.letrec<{ sel: string }>((tie) => ({
  sel: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc
      .tuple(fc.option(fc.constantFrom('a', 'b', 'c1', 'zz'), { nil: undefined }), name, directive)
      .map(([alias, n, d]) => `${alias ? `${alias}: ` : ''}${n}${d}`),
    fc
      .tuple(fc.option(fc.constantFrom('a', 'b', 'c1'), { nil: undefined }), name, args, directive, fc.array(tie('sel'), { minLength: 1, maxLength: 4 }))
      .map(
        ([alias, n, a, d, subs]) =>
          `${alias ? `${alias}: ` : ''}${n}${a.length ? `(${a.map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}${d} { ${subs.join(' ')} }`,
      ),
    fc.array(tie('sel'), { minLength: 1, maxLength: 3 }).map((subs) => `... on Query { ${subs.join(' ')} }`),
    fc.constantFrom('...F', '...G'),
  ),
})).sel;

const structured = fc
  .tuple(
    fc.constantFrom('query', 'query Q($v: Boolean)', 'query($v: Int)', 'mutation', '', 'query($v: JSON!)'),
    fc.array(selection, { minLength: 1, maxLength: 5 }),
    fc.constantFrom(
      '',
      'fragment F on Query { __typename }',
      'fragment F on Query { ...G } fragment G on Query { ...F }',
      'fragment F on Run { id ...F }',
      'fragment G on Query { runs { nodes { ...F } } } fragment F on Run { tasks { id } }',
    ),
  )
  .map(([head, sels, fragments]) => `${head} { ${sels.join(' ')} } ${fragments}`);

const BASES = [
  `query { runs(first: 10) { nodes { id status events { seq } tasks { id attempts { attempt } } } pageInfo { endCursor } } }`,
  `query($id: ID!) { run(id: $id) { id workflow { name steps { key } } } }`,
  `mutation { a: claimTasks(queue: "q", workerId: "w", max: 5) { taskId task { id } } }`,
  `mutation { a: claimTasks(queue: "q", workerId: "w", waitMs: 100) { taskId } b: claimTasks(queue: "q", workerId: "w", waitMs: 100) { taskId } }`,
  `query { workflows(last: 5) { edges { cursor node { name version } } totalCount } }`,
  `{ __schema { types { name fields { name } } } }`,
];
const mutated = fc
  .tuple(
    fc.constantFrom(...BASES),
    fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.constantFrom('{', '}', '(', ')', ':', '$', '"', '@', '...', ' ', 'a', '1', '\\', '\u0000', '#', '!', '[', ']')), {
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([base, edits]) => {
    let s = base;
    for (const [at, kind, ch] of edits) {
      const i = at % (s.length + 1);
      s = kind === 0 ? s.slice(0, i) + s.slice(i + 1) : kind === 1 ? s.slice(0, i) + ch + s.slice(i) : s.slice(0, i) + ch + s.slice(i + 1);
    }
    return s;
  });

/** Valid documents of varied shape and size: they execute (or meet the cost limit, or a resolver's own bounds). */
const runFields = fc.subarray(
  [
    'id',
    'status',
    'input',
    'output',
    'error',
    'createdAt',
    'workflow { name version steps { key dependsOn retry { maxAttempts } } }',
    'events { seq type status data }',
    'events(afterSeq: 2) { seq }',
    'events(afterSeq: -1) { seq }',
    'tasks { id key status input attempts { attempt outcome leaseToken } traceparent }',
  ],
  { minLength: 1 },
);
const valid = fc
  .tuple(fc.integer({ min: 1, max: 17 }), fc.integer({ min: -2, max: 150 }), fc.constantFrom('first', 'last'), runFields, fc.boolean())
  .map(([n, size, dir, fields, edges]) => {
    const body = edges ? `edges { cursor node { ${fields.join(' ')} } } pageInfo { hasNextPage endCursor }` : `nodes { ${fields.join(' ')} } totalCount`;
    return `query { ${Array.from({ length: n }, (_, i) => `r${i}: runs(${dir}: ${size}) { ${body} }`).join(' ')} }`;
  });

const nested = fc.integer({ min: 5, max: 3000 }).map((n) => `query { ${'runs { nodes { '.repeat(n)}id${' } }'.repeat(n)} }`);
const manyAliases = fc
  .integer({ min: 1, max: 600 })
  .map((n) => `query { ${Array.from({ length: n }, (_, i) => `a${i}: runs(first: 100) { nodes { events { seq } } }`).join(' ')} }`);
const hugeString = fc.integer({ min: 1_000, max: 200_000 }).map((n) => `query { run(id: "${'x'.repeat(n)}") { id } }`);
const manyDirectives = fc.integer({ min: 1, max: 400 }).map((n) => `query { __typename ${'@include(if: true) '.repeat(n)} }`);
const noise = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.constant(''), fc.constant('{'.repeat(5000)));

const document = fc.oneof(
  { arbitrary: structured, weight: 4 },
  { arbitrary: valid, weight: 3 },
  { arbitrary: mutated, weight: 4 },
  { arbitrary: nested, weight: 1 },
  { arbitrary: manyAliases, weight: 1 },
  { arbitrary: hugeString, weight: 1 },
  { arbitrary: manyDirectives, weight: 1 },
  { arbitrary: noise, weight: 2 },
);

const deepJson = fc.integer({ min: 1, max: 400 }).map((n) => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = { a: v };
  return v;
});
const variables = fc.option(
  fc.record({
    v: fc.oneof(
      fc.boolean(),
      fc.integer(),
      fc.string({ maxLength: 50 }),
      fc.constant(null),
      deepJson,
      fc.jsonValue({ maxDepth: 4 }),
      fc.constant('y'.repeat(100_000)),
    ),
    id: fc.oneof(fc.uuid(), fc.string({ maxLength: 40 })),
  }),
  { nil: undefined },
);

// --- transports (one connection per protocol for the whole run) ----------------------------

class Legacy {
  private readonly pending = new Map<string, (r: Result) => void>();
  private next = 0;
  closed: number | undefined;
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { id?: string; type: string; payload?: any };
      const done = m.id ? this.pending.get(m.id) : undefined;
      if (!done) return;
      if (m.type === 'data') done(m.payload as Result);
      else if (m.type === 'error') done({ errors: [m.payload] });
      else if (m.type === 'complete') done({});
      else return;
      this.pending.delete(m.id!);
    });
    ws.on('close', (code) => {
      this.closed = code;
      for (const done of this.pending.values()) done({ closed: code });
    });
  }

  static open(url: string): Promise<Legacy> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'graphql-ws');
      ws.once('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} })));
      ws.once('error', reject);
      ws.on('message', function ack(raw) {
        if ((JSON.parse(String(raw)) as { type: string }).type === 'connection_ack') {
          ws.off('message', ack);
          resolve(new Legacy(ws));
        }
      });
    });
  }

  send(query: string, vars?: Record<string, unknown>): Promise<Result> {
    const id = String(++this.next);
    return new Promise((resolve) => {
      if (this.closed !== undefined) return resolve({ closed: this.closed });
      this.pending.set(id, (r) => {
        // a subscription that started stays open: stop it
        this.ws.send(JSON.stringify({ id, type: 'stop' }));
        resolve(r);
      });
      this.ws.send(JSON.stringify({ id, type: 'start', payload: { query, variables: vars } }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

function sendModern(client: Client, query: string, vars: Record<string, unknown> | undefined, closed: { code?: number }): Promise<Result> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: Result) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      resolve(r);
    };
    const unsubscribe = client.subscribe(
      { query, variables: vars },
      {
        next: (value) => settle(value as Result),
        error: (e) => settle(Array.isArray(e) ? { errors: e as Result['errors'] } : { closed: closed.code ?? -1 }),
        complete: () => settle({}),
      },
    );
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

/** What a result says about limits and refusals, to compare across transports. */
function verdict(r: Result): string {
  if (r.closed !== undefined) return `closed:${r.closed}`;
  const codes = (r.errors ?? []).map((e) => `${e.extensions?.code ?? 'NO_CODE'}${e.extensions?.['limit'] ? `:${String(e.extensions['limit'])}` : ''}`);
  return [...new Set(codes)].sort().join(',') || 'ok';
}

describe('hostile input over HTTP, graphql-ws and the legacy protocol', () => {
  let t: TestApp;
  let modern: Client;
  const modernClosed: { code?: number } = {};
  let legacy: Legacy;

  beforeAll(async () => {
    // The document limits, compared across transports: the per-tenant cost budget (refused before
    // parsing on HTTP only, by design; tenant-cost.test) is off.
    t = await startTestApp({ env: { NODE_ENV: 'development', SCHEDULER_POLL_INTERVAL_MS: '60000', RATE_LIMIT_COST_PER_TENANT: '0' } });
    await t.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`, {
      input: { name: 'hostile', steps: [{ key: 'a', type: 'work', queue: 'q' }] },
    });
    for (let i = 0; i < 10; i++) await t.app.services.runs.start('default', { workflow: 'hostile', input: { i } });
    modern = createClient({
      url: t.app.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      keepAlive: 0,
      on: { closed: (e) => (modernClosed.code = (e as { code?: number }).code) },
    });
    legacy = await Legacy.open(t.app.url.replace(/^http/, 'ws'));
  }, 60_000);
  afterAll(async () => {
    legacy?.close();
    await modern?.dispose();
    await t?.close();
  });

  const send = async (transport: Transport, query: string, vars?: Record<string, unknown>): Promise<Result> => {
    if (transport === 'http') {
      const res = await fetch(t.app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables: vars }) });
      const text = await res.text();
      let body: GqlResult;
      try {
        body = JSON.parse(text) as GqlResult;
      } catch {
        body = { errors: [{ message: `not JSON: ${text.slice(0, 80)}`, extensions: { code: 'NOT_JSON' } }] };
      }
      return { ...body, status: res.status };
    }
    if (transport === 'graphql-ws') return sendModern(modern, query, vars, modernClosed);
    return legacy.send(query, vars);
  };

  it(`${CASES} generated documents: no 5xx, no crash, no internal error, bounded RSS, the same limits everywhere`, async () => {
    console.log(`[hostile] fast-check seed ${SEED}, ${CASES} cases (${SAME_ON_ALL} of them on all three transports)`);
    const samples = fc.sample(fc.tuple(document, variables), { seed: SEED, numRuns: CASES });
    const transports: Transport[] = ['http', 'graphql-ws', 'legacy'];
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const failures: string[] = [];
    const verdicts = new Map<string, number>();
    const mismatches: string[] = [];
    let sent = 0;
    const started = Date.now();

    for (let i = 0; i < samples.length; i++) {
      const [query, vars] = samples[i]!;
      const all = i < SAME_ON_ALL;
      const targets = all ? transports : [transports[i % 3]!];
      const results: [Transport, Result][] = [];
      for (const transport of targets) {
        sent++;
        let result: Result;
        try {
          result = await withTimeout(send(transport, query, vars), 20_000, `${transport} case ${i}`);
        } catch (e: unknown) {
          failures.push(`case ${i} ${transport}: ${(e as Error).message} — ${query.slice(0, 120)}`);
          continue;
        }
        results.push([transport, result]);
        const v = verdict(result);
        verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
        if ((result.status ?? 200) >= 500) failures.push(`case ${i} ${transport}: HTTP ${result.status} ${JSON.stringify(result.errors)?.slice(0, 200)}`);
        if (result.closed !== undefined) failures.push(`case ${i} ${transport}: socket closed ${result.closed} — ${query.slice(0, 120)}`);
        for (const e of result.errors ?? []) {
          if (e.extensions?.code === 'INTERNAL_SERVER_ERROR' || !e.extensions?.code) {
            failures.push(`case ${i} ${transport}: ${e.extensions?.code ?? 'no code'} "${e.message.slice(0, 160)}" — ${query.slice(0, 160)}`);
          }
        }
      }
      if (all && results.length === 3) {
        // Limits and refusals are the same everywhere (execution results may differ: HTTP
        // refuses a subscription, WebSockets run it).
        const limits = results.map(
          ([tr, r]) =>
            `${tr}=${verdict(r)
              .split(',')
              .filter((c) => c.startsWith('LIMIT_EXCEEDED') || c.startsWith('GRAPHQL_'))
              .join(',')}`,
        );
        if (new Set(limits.map((l) => l.split('=')[1])).size > 1) mismatches.push(`case ${i}: ${limits.join(' ')} — ${query.slice(0, 120)}`);
      }
      if (i % 50 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }

    // Bad JSON bodies and oversized ones, HTTP only.
    const bodies = fc.sample(
      fc.oneof(
        fc.string({ maxLength: 100 }),
        fc.constant('{"query": "{ __typename }"'),
        fc.constant('['.repeat(10_000)),
        fc.constant(`{"query": "${'x'.repeat(3 * 1024 * 1024)}"}`),
      ),
      { seed: SEED, numRuns: 60 },
    );
    for (const body of bodies) {
      sent++;
      const res = await fetch(t.app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const text = await res.text();
      if (res.status >= 500) failures.push(`body ${JSON.stringify(body.slice(0, 40))}: HTTP ${res.status}`);
      if (!/^\s*\{/.test(text)) failures.push(`body ${JSON.stringify(body.slice(0, 40))}: answered ${res.headers.get('content-type')} ${text.slice(0, 60)}`);
    }

    global.gc?.();
    const rssAfter = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rssAfter);
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `[hostile] ${sent} requests in ${seconds.toFixed(1)} s; RSS ${(rssBefore / 2 ** 20).toFixed(0)} MB → ${(rssAfter / 2 ** 20).toFixed(0)} MB ` +
        `(peak ${(peakRss / 2 ** 20).toFixed(0)} MB, growth ${((rssAfter - rssBefore) / 2 ** 20).toFixed(0)} MB)`,
    );
    console.log(
      `[hostile] verdicts: ${[...verdicts]
        .sort((a, b) => b[1] - a[1])
        .map(([v, n]) => `${v} ×${n}`)
        .join('; ')}`,
    );
    if (failures.length) console.log(`[hostile] failures:\n${failures.slice(0, 40).join('\n')}`);
    if (mismatches.length) console.log(`[hostile] transport mismatches:\n${mismatches.slice(0, 20).join('\n')}`);

    expect(failures).toEqual([]);
    expect(mismatches).toEqual([]);
    expect(rssAfter - rssBefore).toBeLessThan(RSS_GROWTH_MAX);
    // Still serving on every transport.
    for (const transport of transports) expect((await send(transport, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  }, 240_000);
});
