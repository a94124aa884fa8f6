import { buildSchema, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { SharedSubscriptions } from '../../src/graphql/shared-subscriptions';

/**
 * One graphql execution per event for every runEvents subscriber with the same tenant, document
 * and variables; everything else subscribes on its own. Sources here are hand-driven streams, so
 * the tests decide when each result arrives (no timing).
 */

const schema = buildSchema(`
  type Query { ok: Boolean }
  type Subscription { runEvents(workflow: String): Int runUpdated(id: ID!): Int }
`);

/** A source the test pushes results into; records whether it was returned. */
class Source implements AsyncIterableIterator<ExecutionResult> {
  returned = false;
  private readonly queue: ExecutionResult[] = [];
  private waiting: ((r: IteratorResult<ExecutionResult>) => void) | null = null;
  private failWith: ((e: unknown) => void) | null = null;

  emit(n: number): void {
    const value = { data: { n } };
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value, done: false });
    } else this.queue.push(value);
  }

  fail(e: Error): void {
    this.failWith?.(e);
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.returned) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWith = reject;
    });
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.returned = true;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = null;
    return { value: undefined, done: true };
  }

  async throw(e?: unknown): Promise<IteratorResult<ExecutionResult>> {
    throw e;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function setup() {
  const sources: { args: ExecutionArgs; source: Source }[] = [];
  const shared = new SharedSubscriptions(async (args) => {
    const source = new Source();
    sources.push({ args, source });
    return source as never;
  });
  const args = (query: string, tenantId = 't1', variableValues?: Record<string, unknown>): ExecutionArgs => ({
    schema,
    document: shared.parse(query),
    contextValue: { tenantId },
    variableValues,
  });
  const open = async (a: ExecutionArgs) => (await shared.subscribe(a)) as AsyncIterableIterator<ExecutionResult>;
  return { shared, sources, args, open };
}

const EVENTS = 'subscription($w: String) { runEvents(workflow: $w) }';
/** Lets every pending microtask and promise job run (the pump forwards asynchronously). */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('SharedSubscriptions', () => {
  it('parses each operation text once and validates each document once', () => {
    const { shared } = setup();
    const a = shared.parse(EVENTS);
    expect(shared.parse(EVENTS)).toBe(a);
    const errors = shared.validate(schema, shared.parse('subscription { nope }'));
    expect(errors).toHaveLength(1);
    expect(shared.validate(schema, shared.parse('subscription { nope }'))).toBe(errors);
    expect(() => shared.parse('subscription {')).toThrow(/Syntax Error/);
  });

  it('gives subscribers of the same tenant, document and variables one source and the same results', async () => {
    const { shared, sources, args, open } = setup();
    const [one, two] = await Promise.all([open(args(EVENTS, 't1', { w: 'x' })), open(args(EVENTS, 't1', { w: 'x' }))]);
    expect(sources).toHaveLength(1);
    expect(shared.groupCount()).toBe(1);
    const firstOne = one.next();
    const firstTwo = two.next();
    sources[0]!.source.emit(1);
    sources[0]!.source.emit(2);
    const [a, b] = await Promise.all([firstOne, firstTwo]);
    expect(a.value).toEqual({ data: { n: 1 } });
    expect(b.value).toBe(a.value);
    expect((await one.next()).value).toEqual({ data: { n: 2 } });
    expect((await two.next()).value).toEqual({ data: { n: 2 } });
    await one.return!();
    await two.return!();
  });

  it.each([
    ['another tenant', ['t1', { w: 'x' }], ['t2', { w: 'x' }]],
    ['other variables', ['t1', { w: 'x' }], ['t1', { w: 'y' }]],
  ] as const)('does not share across %s', async (_case, [t1, v1], [t2, v2]) => {
    const { shared, sources, args, open } = setup();
    const subs = await Promise.all([open(args(EVENTS, t1, v1)), open(args(EVENTS, t2, v2))]);
    expect(sources).toHaveLength(2);
    expect(shared.groupCount()).toBe(2);
    await Promise.all(subs.map((s) => s.return!()));
  });

  it('runs runUpdated (per-subscriber replay) on its own every time', async () => {
    const { shared, sources, args, open } = setup();
    const q = 'subscription { runUpdated(id: "r") }';
    const subs = await Promise.all([open(args(q)), open(args(q))]);
    expect(sources).toHaveLength(2);
    expect(shared.groupCount()).toBe(0);
    await Promise.all(subs.map((s) => s.return!()));
  });

  it('keeps the source while a member remains and returns it when the last leaves, also one that never read', async () => {
    const { shared, sources, args, open } = setup();
    const one = await open(args(EVENTS));
    const two = await open(args(EVENTS));
    await one.return!();
    expect(sources[0]!.source.returned).toBe(false);
    const next = two.next();
    sources[0]!.source.emit(7);
    expect((await next).value).toEqual({ data: { n: 7 } });
    await two.return!();
    await settle();
    expect(sources[0]!.source.returned).toBe(true);
    expect(shared.groupCount()).toBe(0);

    // A later subscriber starts a new source.
    const three = await open(args(EVENTS));
    expect(sources).toHaveLength(2);
    await three.return!();
    await settle();
    expect(sources[1]!.source.returned).toBe(true);
  });

  it("ends every member with the source's error", async () => {
    const { shared, sources, args, open } = setup();
    const subs = await Promise.all([open(args(EVENTS)), open(args(EVENTS))]);
    const nexts = subs.map((s) => s.next());
    await settle();
    sources[0]!.source.fail(new Error('bus gone'));
    for (const n of nexts) await expect(n).rejects.toThrow('bus gone');
    expect(shared.groupCount()).toBe(0);
  });

  it('hands a refusal (an ExecutionResult instead of a stream) to every waiting subscriber', async () => {
    const refusal: ExecutionResult = { errors: [] };
    const shared = new SharedSubscriptions(async () => refusal);
    const a: ExecutionArgs = { schema, document: shared.parse(EVENTS), contextValue: { tenantId: 't' } };
    expect(await Promise.all([shared.subscribe(a), shared.subscribe(a)])).toEqual([refusal, refusal]);
    await settle();
    expect(shared.groupCount()).toBe(0);
  });
});
