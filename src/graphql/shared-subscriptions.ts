import {
  getOperationAST,
  parse,
  subscribe as graphqlSubscribe,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLSchema,
  type Source,
} from 'graphql';
import type { Context } from './context';

/** Root subscription fields whose events depend only on (tenant, arguments): one execution can serve every subscriber. */
const SHAREABLE_FIELDS = new Set(['runEvents']);
/** Results a slow subscriber may lag behind; past it the oldest are dropped (`runEvents` is live-only, as before). */
const MEMBER_BUFFER = 1024;
/** Distinct operation texts kept parsed; clients send the same few, a hostile one cannot grow it past this. */
const DOCUMENT_CACHE_SIZE = 500;
/** Longer texts are parsed each time and not kept. */
const CACHEABLE_QUERY_LENGTH = 20_000;

type Stream = AsyncGenerator<ExecutionResult, void, void>;

interface Group {
  /** The one real subscription, or the result that refused it (bad variables). */
  source: Promise<Stream | ExecutionResult>;
  members: Set<Member>;
  /** Set once the source has ended; members joining later end at once. */
  ended: { failure: unknown } | null;
}

/**
 * Live fan-out for graphql-ws, measured in bench scenario 6 (1,000 subscribers):
 *
 * - Operation texts are parsed and validated once, not once per subscriber: each subscriber held
 *   its own AST (~8 KB of tokens and locations) and paid a parse and a validation.
 * - Subscriptions to a shareable field (`runEvents`) with the same document, variables and
 *   tenant share ONE graphql subscription: each event is executed once and the same result goes
 *   to every member, instead of an execution (context, field resolvers, scalar serialisation)
 *   per subscriber per event. The shared execution uses the first member's context; for these
 *   fields a context is only its tenant and the services, which every member of the group shares.
 *
 * Everything else (runUpdated with its per-subscriber replay, queries, mutations) goes the
 * usual way.
 */
export class SharedSubscriptions {
  private readonly documents = new Map<string, DocumentNode>();
  private readonly validated = new WeakMap<DocumentNode, readonly GraphQLError[]>();
  private readonly groups = new Map<string, Group>();

  private readonly parseFn: (source: string | Source) => DocumentNode;
  private readonly validateFn: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[];

  /**
   * @param checks the parse (token limit) and validation (rules and limits) every operation
   *   goes through (src/graphql/guard.ts); these cache their results. @default graphql-js's own
   */
  constructor(
    private readonly subscribeFn: (args: ExecutionArgs) => Promise<Stream | ExecutionResult> = graphqlSubscribe as never,
    checks: {
      parse?: (source: string | Source) => DocumentNode;
      validate?: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[];
    } = {},
  ) {
    this.parseFn = checks.parse ?? ((source) => parse(source));
    this.validateFn = checks.validate ?? ((schema, document) => validate(schema, document));
  }

  /** graphql-ws `parse`: a cached document per operation text (a refused text throws each time). */
  readonly parse = (source: string | Source): DocumentNode => {
    if (typeof source !== 'string') return this.parseFn(source);
    const cached = this.documents.get(source);
    if (cached) return cached;
    const document = this.parseFn(source);
    if (source.length <= CACHEABLE_QUERY_LENGTH) {
      if (this.documents.size >= DOCUMENT_CACHE_SIZE) this.documents.delete(this.documents.keys().next().value!);
      this.documents.set(source, document);
    }
    return document;
  };

  /** graphql-ws `validate`: once per document (the schema never changes while serving). */
  readonly validate = (schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[] => {
    let errors = this.validated.get(document);
    if (!errors) this.validated.set(document, (errors = this.validateFn(schema, document)));
    return errors;
  };

  /** graphql-ws `subscribe`. */
  readonly subscribe = async (args: ExecutionArgs): Promise<Stream | ExecutionResult> => {
    const key = this.keyOf(args);
    if (key === null) return this.subscribeFn(args);
    let group = this.groups.get(key);
    if (!group) {
      const created: Group = { source: this.subscribeFn(args), members: new Set(), ended: null };
      this.groups.set(key, (group = created));
      void this.pump(key, created);
    }
    // Joined before any await: an event published meanwhile reaches this member too, and a
    // member that leaves before its first next() still counts out (no orphaned group).
    const joined = group;
    const member = new Member(() => {
      joined.members.delete(member);
      if (joined.members.size === 0) void this.end(key, joined);
    });
    if (joined.ended) member.finish(joined.ended.failure);
    else joined.members.add(member);
    const source = await joined.source;
    if (!isAsyncIterable(source)) {
      void member.return();
      return source;
    }
    return member as unknown as Stream;
  };

  /** Shared groups alive (one per distinct tenant, document and variables). */
  groupCount(): number {
    return this.groups.size;
  }

  /** Forwards the shared source to the members; ends them when it ends. */
  private async pump(key: string, group: Group): Promise<void> {
    let failure: unknown = undefined;
    try {
      const source = await group.source;
      if (!isAsyncIterable(source)) return;
      for await (const result of source) for (const member of group.members) member.push(result);
    } catch (e: unknown) {
      failure = e ?? new Error('the shared subscription failed');
    } finally {
      group.ended = { failure };
      if (this.groups.get(key) === group) this.groups.delete(key);
      for (const member of [...group.members]) member.finish(failure);
    }
  }

  private async end(key: string, group: Group): Promise<void> {
    if (this.groups.get(key) === group) this.groups.delete(key);
    const source = await group.source.catch(() => null);
    if (source && isAsyncIterable(source)) await source.return();
  }

  /** The sharing key, or null when this operation must run on its own. */
  private keyOf(args: ExecutionArgs): string | null {
    const operation = getOperationAST(args.document, args.operationName);
    const root = operation?.operation === 'subscription' && operation.selectionSet.selections.length === 1 ? operation.selectionSet.selections[0] : undefined;
    if (!root || root.kind !== 'Field' || !SHAREABLE_FIELDS.has(root.name.value)) return null;
    const tenantId = (args.contextValue as Context | undefined)?.tenantId;
    if (typeof tenantId !== 'string') return null;
    // Documents are cached by `parse`, so equal texts are one object: give it an identity.
    return `${tenantId}\u0000${documentId(args.document)}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}`;
  }
}

/**
 * One subscriber's stream of the shared results: a bounded queue (the oldest dropped past
 * MEMBER_BUFFER) and at most one pending next(). Lighter than a Repeater per subscriber.
 */
class Member implements AsyncIterableIterator<ExecutionResult> {
  private readonly queue: ExecutionResult[] = [];
  private waiting: { resolve: (r: IteratorResult<ExecutionResult>) => void; reject: (e: unknown) => void } | null = null;
  private done = false;
  private failure: unknown = undefined;

  constructor(private readonly onLeave: () => void) {}

  push(result: ExecutionResult): void {
    if (this.done) return;
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = null;
      resolve({ value: result, done: false });
      return;
    }
    this.queue.push(result);
    if (this.queue.length > MEMBER_BUFFER) this.queue.shift();
  }

  /** The source ended (or failed): what is queued is still delivered, then the end. */
  finish(failure?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = failure;
    if (this.waiting) {
      const { resolve, reject } = this.waiting;
      this.waiting = null;
      this.settleEnd(resolve, reject);
    }
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    return new Promise((resolve, reject) => {
      if (this.done) this.settleEnd(resolve, reject);
      else this.waiting = { resolve, reject };
    });
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.leave();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.leave();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private leave(): void {
    this.queue.length = 0;
    this.failure = undefined;
    if (!this.done) this.finish();
    this.onLeave();
  }

  private settleEnd(resolve: (r: IteratorResult<ExecutionResult>) => void, reject: (e: unknown) => void): void {
    const failure = this.failure;
    this.failure = undefined;
    if (failure !== undefined) reject(failure);
    else resolve({ value: undefined, done: true });
  }
}

const ids = new WeakMap<DocumentNode, number>();
let nextId = 0;
function documentId(document: DocumentNode): number {
  let id = ids.get(document);
  if (id === undefined) ids.set(document, (id = ++nextId));
  return id;
}

function isAsyncIterable(value: unknown): value is Stream {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
