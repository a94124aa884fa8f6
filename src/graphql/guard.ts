import { ApolloArmor } from '@escape.tech/graphql-armor';
import {
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  parse as parseDocument,
  specifiedRules,
  validate as validateDocument,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type Source,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
import type { GraphQLRequestLimits } from '../config/limits';
import { DomainError, LimitExceededError } from '../domain/errors';
import { createFormatError, toGraphQLError } from './errors';

/**
 * The request guard: what every GraphQL operation goes through before it executes, and the one
 * error-masking path of its answer, whatever the transport (HTTP through Apollo, graphql-ws, the
 * legacy subscriptions-transport-ws). Apollo runs its validation rules on HTTP only, so the
 * WebSocket transports call `parse`, `validate` and `formatResult` of the same guard.
 *
 * - Parse: graphql-js counts tokens while lexing (`maxTokens`) and stops at the limit, so a
 *   20 MB document costs what its first N tokens cost.
 * - Validate: graphql-js's rules, graphql-armor's depth, alias and directive limits, and
 *   `operationBudgetRule`: a schema-aware cost (lists counted by their page size, which
 *   armor's cost cannot know) and at most one long-polling `claimTasks` per operation.
 * - Answer: errors masked by `createFormatError` (no internals in production, no "Did you
 *   mean" suggestions unless introspection is on) and responses larger than `maxResponseBytes`
 *   replaced by a LIMIT_EXCEEDED error.
 */
export interface GuardOptions {
  limits: GraphQLRequestLimits;
  production: boolean;
  /** Unexpected errors (masked for the client) go here to be logged. */
  onInternal: (error: unknown) => void;
}

/** Objects a list returns when nothing bounds it (Run.events, Run.tasks, Task.attempts): the cost model's guess. */
export const ASSUMED_LIST_SIZE = 10;
/** Page size of a connection field given no `first`/`last` (the API's default page). */
const DEFAULT_PAGE = 20;
/** Page size, or `max`, when it comes from a variable: the largest the API accepts. */
const MAX_PAGE = 100;

export class GraphQLGuard {
  readonly validationRules: readonly ValidationRule[];
  private readonly allRules: readonly ValidationRule[];
  /** Apollo's `formatError`, and the WebSocket transports' too. */
  readonly formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  readonly limits: GraphQLRequestLimits;

  constructor(opts: GuardOptions) {
    const { limits } = opts;
    this.limits = limits;
    const report =
      (limit: string, max: number, what: string, variable: string) =>
      (ctx: ValidationContext | null, error: GraphQLError): void => {
        const actual = Number(/found (\d+)/.exec(error.message)?.[1] ?? NaN);
        const found = Number.isFinite(actual) ? `: found ${actual}` : '';
        ctx?.reportError(
          limitError(`The operation has more ${what} than the ${max} allowed${found}; simplify it or raise ${variable}`, { limit, max, actual }),
        );
      };
    const armor = new ApolloArmor({
      maxDepth: {
        n: limits.maxDepth,
        onReject: [report('GRAPHQL_MAX_DEPTH', limits.maxDepth, 'levels of nesting', 'GRAPHQL_MAX_DEPTH')],
        propagateOnRejection: false,
      },
      maxAliases: {
        n: limits.maxAliases,
        onReject: [report('GRAPHQL_MAX_ALIASES', limits.maxAliases, 'aliases', 'GRAPHQL_MAX_ALIASES')],
        propagateOnRejection: false,
      },
      maxDirectives: {
        n: limits.maxDirectives,
        onReject: [report('GRAPHQL_MAX_DIRECTIVES', limits.maxDirectives, 'directives', 'GRAPHQL_MAX_DIRECTIVES')],
        propagateOnRejection: false,
      },
      // Armor's cost is schema-blind (every selection set is an object, lists unknown): the
      // schema-aware operationBudgetRule below replaces it.
      costLimit: { enabled: false },
      // Tokens are counted by graphql-js's own parser (`maxTokens`), in the one parse.
      maxTokens: { enabled: false },
      // Suggestions are removed by the formatter, on every transport.
      blockFieldSuggestion: { enabled: false },
    });
    this.validationRules = [
      ...(armor.protect().validationRules as ValidationRule[]),
      operationBudgetRule(limits),
      ...(limits.introspection ? [] : [NoSchemaIntrospectionCustomRule]),
    ];
    this.allRules = [...specifiedRules, ...this.validationRules];
    const format = createFormatError({ production: opts.production, onInternal: opts.onInternal });
    this.formatError = (formatted, error) => {
      // graphql-js parses nested values recursively: a literal nested thousands deep overflows the
      // stack before the token limit stops it. Say what to fix, not what the runtime said.
      if (formatted.extensions?.['code'] === 'GRAPHQL_PARSE_FAILED' && /Maximum call stack size exceeded/.test(formatted.message)) {
        return {
          message: `The document is nested too deeply to parse; keep nesting within ${limits.maxDepth} levels (GRAPHQL_MAX_DEPTH) and send deep data as variables`,
          extensions: { code: 'LIMIT_EXCEEDED', limit: 'GRAPHQL_MAX_DEPTH', max: limits.maxDepth },
        };
      }
      const tokens = tokenLimitOf(error, limits.maxTokens);
      const result = tokens ? format(tokens.toJSON(), tokens) : format(formatted, error);
      return limits.introspection ? result : { ...result, message: withoutSuggestions(result.message) };
    };
  }

  /** Apollo's `parseOptions`: the token limit in the one parse. */
  get parseOptions(): { maxTokens: number } {
    return { maxTokens: this.limits.maxTokens };
  }

  /**
   * Parses with the token limit; a refused document throws a GraphQLError: LIMIT_EXCEEDED for
   * the tokens, GRAPHQL_PARSE_FAILED (as Apollo says it) for a syntax error.
   */
  readonly parse = (source: string | Source): DocumentNode => {
    try {
      return parseDocument(source, { maxTokens: this.limits.maxTokens });
    } catch (e: unknown) {
      const limit = tokenLimitOf(e, this.limits.maxTokens);
      if (limit) throw limit;
      if (e instanceof GraphQLError) throw withCode(e, 'GRAPHQL_PARSE_FAILED');
      throw e;
    }
  };

  /** graphql-js's rules and the guard's; errors coded GRAPHQL_VALIDATION_FAILED (as Apollo does) unless a limit's. */
  readonly validate = (schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[] =>
    validateDocument(schema, document, this.allRules).map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED'));

  /**
   * A WebSocket operation's text → its document, or the errors that refuse it (parse, limits,
   * validation). `parse` and `validate` may be caching wrappers of this guard's own.
   */
  prepare(
    schema: GraphQLSchema,
    query: unknown,
    via: { parse: (source: string) => DocumentNode; validate: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[] } = this,
  ): { document: DocumentNode } | { errors: readonly GraphQLError[] } {
    if (typeof query !== 'string' || query.length === 0) {
      return { errors: [new GraphQLError('An operation needs a non-empty "query" string', { extensions: { code: 'BAD_REQUEST' } })] };
    }
    let document: DocumentNode;
    try {
      document = via.parse(query);
    } catch (e: unknown) {
      if (e instanceof GraphQLError) return { errors: [e] };
      throw e;
    }
    const errors = via.validate(schema, document);
    return errors.length ? { errors } : { document };
  }

  /** Errors as a client may see them (the WebSocket transports; Apollo calls `formatError` itself). */
  formatErrors(errors: readonly unknown[]): GraphQLFormattedError[] {
    return errors.map((e) => {
      const error =
        e instanceof GraphQLError ? e : new GraphQLError(e instanceof Error ? e.message : String(e), { originalError: e instanceof Error ? e : undefined });
      return this.formatError(error.toJSON(), error);
    });
  }

  /**
   * One result as a WebSocket transport sends it: errors masked, and a result over the size cap
   * replaced by an error. A result without `data` was refused before execution (variables that do
   * not fit their types, no such operation): BAD_USER_INPUT, as Apollo answers it on HTTP.
   */
  formatResult(result: ExecutionResult): { data?: unknown; errors?: GraphQLFormattedError[]; extensions?: unknown } {
    const { errors, ...rest } = result;
    const refused = !('data' in result) || result.data === undefined;
    const coded = refused ? errors?.map((e) => (e instanceof GraphQLError ? withCode(e, 'BAD_USER_INPUT', true) : e)) : errors;
    const formatted = coded?.length ? { ...rest, errors: this.formatErrors(coded) } : rest;
    if (!exceedsJsonBytes(formatted, this.limits.maxResponseBytes)) return formatted;
    return this.tooLargeResult();
  }

  /**
   * A result as the HTTP transport sends it (Apollo's `stringifyResult`): compact JSON, its size
   * read off the string, so a result is walked once (a size walk, then the serialisation, each cost
   * 3–4 ms of one synchronous block for nine pages of 100 runs on a slow machine). Over the size cap
   * (or too large for a string at all) it is replaced by the error.
   */
  stringifyResult(result: unknown): string {
    let json: string | null;
    try {
      json = JSON.stringify(result);
    } catch (e: unknown) {
      if (!(e instanceof RangeError)) throw e;
      json = null;
    }
    if (json !== null && !exceedsBytes(json, this.limits.maxResponseBytes)) return json;
    return JSON.stringify(this.tooLargeResult());
  }

  /** What a response over the size cap is replaced by. */
  private tooLargeResult(): { data: null; errors: GraphQLFormattedError[] } {
    return { data: null, errors: this.formatErrors([this.responseTooLarge()]) };
  }

  private responseTooLarge(): GraphQLError {
    const max = this.limits.maxResponseBytes;
    return limitError(`The response would exceed ${max} bytes; ask for fewer items (first/last) or fields, or raise GRAPHQL_MAX_RESPONSE_BYTES`, {
      limit: 'GRAPHQL_MAX_RESPONSE_BYTES',
      max,
    });
  }
}

/** The error with `extensions.code` set, unless it has one (or wraps an error of ours that will). */
function withCode(e: GraphQLError, code: string, force = false): GraphQLError {
  if (e.extensions['code'] || e.originalError instanceof DomainError) return e;
  if (!force && e.originalError && !(e.originalError instanceof GraphQLError)) return e;
  return new GraphQLError(e.message, {
    nodes: e.nodes,
    source: e.source,
    positions: e.positions,
    path: e.path,
    originalError: e.originalError,
    extensions: { ...e.extensions, code },
  });
}

function limitError(message: string, data: { limit: string; max: number; actual?: number }): GraphQLError {
  const clean = { ...data, ...(data.actual !== undefined && !Number.isFinite(data.actual) ? { actual: undefined } : {}) };
  if (clean.actual === undefined) delete clean.actual;
  return toGraphQLError(new LimitExceededError(message, clean));
}

/** graphql-js's token-limit syntax error as LIMIT_EXCEEDED; null for anything else. */
function tokenLimitOf(e: unknown, max: number): GraphQLError | null {
  let error: unknown = e;
  // Apollo wraps the parser's error in its own SyntaxError (originalError).
  for (let i = 0; i < 3 && error instanceof GraphQLError; i++) {
    if (/Document contains more tha[nt] \d+ tokens/.test(error.message)) {
      return limitError(`The document has more than ${max} tokens; send a shorter one or raise GRAPHQL_MAX_TOKENS`, { limit: 'GRAPHQL_MAX_TOKENS', max });
    }
    error = error.originalError;
  }
  return null;
}

/** graphql-js appends `Did you mean "x"?` (and enum or argument lists) to messages: the schema, to whoever asks. */
export function withoutSuggestions(message: string): string {
  return message.replace(/\s*Did you mean [^?]*\?/g, '').trim();
}

/** Whether a string is more than `max` bytes in UTF-8 (at most 3 bytes a UTF-16 unit: most strings need no count). */
function exceedsBytes(text: string, max: number): boolean {
  return text.length * 3 > max && (text.length > max || Buffer.byteLength(text) > max);
}

/**
 * Whether `value` serialises to more than `max` JSON bytes, found without building the string
 * (and iteratively, so a deeply nested value cannot overflow the stack). Strings count their
 * UTF-16 length plus quotes, close to their UTF-8 size for the ASCII-heavy JSON the API returns.
 */
export function exceedsJsonBytes(value: unknown, max: number): boolean {
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') bytes += v.length + 2;
    else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') bytes += 8;
    else if (v === null || v === undefined) bytes += 4;
    else if (v instanceof Date) bytes += 26;
    else if (Array.isArray(v)) {
      bytes += 1 + v.length;
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (typeof v === 'object') {
      const json = (v as { toJSON?: () => unknown }).toJSON;
      if (typeof json === 'function' && !(v instanceof GraphQLError)) {
        stack.push(json.call(v));
        continue;
      }
      bytes += 2;
      for (const key of Object.keys(v)) {
        bytes += key.length + 4;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
    if (bytes > max) return true;
  }
  return false;
}

export interface Budget {
  cost: number;
  longPolls: number;
}

/**
 * The schema-aware cost of an operation, and its long polls. Every object the operation may
 * return counts 1 (leaves are free: the size cap bounds them); a list multiplies what it holds
 * by its size: a connection's `nodes`/`edges` by the connection's `first`/`last` (20 when
 * absent, 100 from a variable), `claimTasks` by `max`, and a list nothing bounds (Run.events,
 * Run.tasks, Task.attempts) by ASSUMED_LIST_SIZE. `40 × runs(first: 100) { nodes { events { seq } } }`
 * costs 44,040; a page of 100 runs with their workflow, events, tasks and attempts 12,201.
 */
export function operationBudgetRule(limits: Pick<GraphQLRequestLimits, 'maxCost' | 'maxLongPolls'>): ValidationRule {
  return (context) => ({
    OperationDefinition(operation) {
      const root = context.getSchema().getRootType(operation.operation);
      if (!root) return;
      const fragments = new Map<string, FragmentDefinitionNode>();
      for (const def of context.getDocument().definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
      const budget = new BudgetWalker(context.getSchema(), fragments).selections(operation.selectionSet, root, undefined, new Set());
      if (budget.cost > limits.maxCost) {
        context.reportError(
          limitError(
            `The operation may cost ${budget.cost}, more than the ${limits.maxCost} allowed (every object returned counts 1, lists by their first/last/max): ` +
              'ask for smaller pages, fewer nested lists or fewer aliases, or raise GRAPHQL_MAX_COST',
            { limit: 'GRAPHQL_MAX_COST', max: limits.maxCost, actual: budget.cost },
          ),
        );
      }
      if (budget.longPolls > limits.maxLongPolls) {
        context.reportError(
          limitError(
            `The operation has ${budget.longPolls} claimTasks that may long-poll (waitMs > 0 or a variable); at most ${limits.maxLongPolls} per operation: ` +
              'send them as separate requests, or give the others waitMs: 0',
            { limit: 'GRAPHQL_MAX_LONG_POLLS', max: limits.maxLongPolls, actual: budget.longPolls },
          ),
        );
      }
    },
  });
}

/** The schema-aware cost and long polls of one operation of a document (what operationBudgetRule weighs). */
export function operationBudget(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): Budget {
  const root = schema.getRootType(operation.operation);
  if (!root) return { cost: 0, longPolls: 0 };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  return new BudgetWalker(schema, fragments).selections(operation.selectionSet, root, undefined, new Set());
}

class BudgetWalker {
  /** Fragment budgets by name and page: a fragment spread many times is walked once per page size. */
  private readonly memo = new Map<string, Budget>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly fragments: Map<string, FragmentDefinitionNode>,
  ) {}

  selections(set: SelectionSetNode, parent: GraphQLCompositeType, page: number | undefined, visiting: Set<string>): Budget {
    const total: Budget = { cost: 0, longPolls: 0 };
    for (const selection of set.selections) {
      let part: Budget;
      if (selection.kind === Kind.FIELD) part = this.field(selection, parent, page, visiting);
      else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? this.schema.getType(selection.typeCondition.name.value) : parent;
        part = type && isCompositeType(type) ? this.selections(selection.selectionSet, type, page, visiting) : { cost: 0, longPolls: 0 };
      } else {
        const name = selection.name.value;
        // A cycle is NoFragmentCyclesRule's to report; here it simply adds nothing.
        if (visiting.has(name)) continue;
        const key = `${name}\u0000${page ?? ''}`;
        let memo = this.memo.get(key);
        if (!memo) {
          const fragment = this.fragments.get(name);
          const type = fragment ? this.schema.getType(fragment.typeCondition.name.value) : undefined;
          visiting.add(name);
          memo = fragment && type && isCompositeType(type) ? this.selections(fragment.selectionSet, type, page, visiting) : { cost: 0, longPolls: 0 };
          visiting.delete(name);
          this.memo.set(key, memo);
        }
        part = memo;
      }
      total.cost += part.cost;
      total.longPolls += part.longPolls;
    }
    return total;
  }

  private field(node: FieldNode, parent: GraphQLCompositeType, page: number | undefined, visiting: Set<string>): Budget {
    if (!isObjectType(parent) && !('getFields' in parent)) return { cost: 0, longPolls: 0 };
    const def = (parent as { getFields(): Record<string, GraphQLField<unknown, unknown>> }).getFields()[node.name.value];
    if (!def) return { cost: 0, longPolls: 0 };
    const longPolls = node.name.value === 'claimTasks' && parent === this.schema.getMutationType() && mayWait(argument(node, 'waitMs')) ? 1 : 0;
    const named = getNamedType(def.type);
    if (!node.selectionSet || !isCompositeType(named)) return { cost: 0, longPolls };
    const hasPaging = def.args.some((a) => a.name === 'first' || a.name === 'last');
    const childPage = hasPaging ? (pageSize(argument(node, 'first')) ?? pageSize(argument(node, 'last')) ?? DEFAULT_PAGE) : undefined;
    let size = 1;
    if (isListType(getNullableType(def.type))) {
      if (page !== undefined) size = page;
      else if (def.args.some((a) => a.name === 'max')) size = pageSize(argument(node, 'max')) ?? 1;
      else size = ASSUMED_LIST_SIZE;
    }
    const inner = this.selections(node.selectionSet, named, childPage, visiting);
    return { cost: size * (1 + inner.cost), longPolls: longPolls + size * inner.longPolls };
  }
}

function argument(node: FieldNode, name: string): ValueNode | undefined {
  return node.arguments?.find((a) => a.name.value === name)?.value;
}

/** A literal size, or the largest allowed for a variable; undefined when absent or null. */
function pageSize(value: ValueNode | undefined): number | undefined {
  if (!value || value.kind === Kind.NULL) return undefined;
  if (value.kind === Kind.INT) return Math.max(0, Math.min(Number(value.value), MAX_PAGE));
  return MAX_PAGE;
}

function mayWait(value: ValueNode | undefined): boolean {
  if (!value || value.kind === Kind.NULL) return false;
  if (value.kind === Kind.INT) return Number(value.value) > 0;
  return value.kind === Kind.VARIABLE;
}
