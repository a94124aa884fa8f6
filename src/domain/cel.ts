/**
 * CEL expressions (conditions, fan-out lists, …): one adapter around `@marcbachmann/cel-js` 8, the
 * only expression language of the conductor (no `eval`).
 *
 * - **Compile once.** {@link compileExpression} parses, type-checks and inspects an expression and
 *   returns a reusable {@link CompiledExpression}; compiled expressions are cached by their source
 *   text and options (the compile is pure), so a definition's expressions are parsed once per
 *   process, not once per task.
 * - **Registration checks.** Syntax, unknown variables, type errors and the result type are
 *   reported as a {@link CelCompileError} (BAD_USER_INPUT) with the character `offset` of the
 *   culprit; {@link CompiledExpression.stepRefs} lists the `steps.<key>` an expression reads, so
 *   the DAG check can refuse a non-dependency.
 * - **JSON in, JSON out.** JSON numbers that are integers enter CEL as `int` (so `i * 2` works;
 *   a fractional number is a `double`: write `double(x) * 1.5` when `x` may be integral); results
 *   come back as JSON (`int`/`uint` → number, timestamps → ISO text, durations → `"1.5s"`).
 * - **Run-time errors** (`No such key: x`, division by zero, a result of the wrong type) become a
 *   {@link CelEvaluationError} naming where the expression is, the failing sub-expression and
 *   its offset; nothing is thrown raw.
 *
 * Bounds: {@link MAX_CEL_EXPRESSION_LENGTH} characters, {@link MAX_CEL_AST_NODES} syntax nodes,
 * nesting depth {@link MAX_CEL_DEPTH}, and no comprehension (`map`, `filter`, `all`, `exists`,
 * `exists_one`) inside another one's body, so evaluation costs at most (AST nodes × list length),
 * never list length squared. Operators copy, though (`l + l`, `x in l`, `l.join(s)`): before it
 * runs, an evaluation's cost is bounded from the sizes of the values it reads
 * ({@link celCostBound}), and one over {@link MAX_CEL_COST} is refused as a CelEvaluationError.
 * `matches` takes a literal pattern that the linear-time engine can run (no backreferences or
 * lookarounds, as RE2 in the CEL specification), and V8 falls back to that engine when a pattern
 * backtracks too much, so `"^(a+)+$"` cannot hold the event loop. See docs/LIMITS.md.
 */
import { setFlagsFromString } from 'node:v8';
import type * as CelJs from '@marcbachmann/cel-js' with { 'resolution-mode': 'import' };
import type { Json } from './glossary';
import { ValidationError } from './errors';
import { celCostBound, MAX_CEL_COST } from './cel-cost';

export { MAX_CEL_COST } from './cel-cost';

// The library is ESM only; the conductor is CommonJS. Node >= 20.19 loads it with require(esm),
// which TypeScript's node16 resolution cannot express as an import: types come from `import type`.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const cel = require('@marcbachmann/cel-js') as typeof CelJs;

/** Characters of one expression at most: a condition is a line, not a program. */
export const MAX_CEL_EXPRESSION_LENGTH = 4096;
/** Syntax-tree nodes of one expression at most (the library's default is 100,000). */
export const MAX_CEL_AST_NODES = 1000;
/** Nesting depth of calls, selections and literals at most. */
export const MAX_CEL_DEPTH = 32;
/** Compiled expressions kept per process (least recently used dropped first). */
export const CEL_CACHE_SIZE = 2000;

const COMPREHENSIONS: ReadonlySet<string> = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

// The library runs `matches` with `new RegExp(pattern).test(s)`: a backtracking engine, where
// "^(a+)+$" over 40 characters takes hours. These flags (read when a RegExp is built) let V8 switch
// a pattern to its breadth-first engine after 50,000 backtracks (measured: 0.4 ms instead of 2.9 s
// for 26 characters), and let the compile check ask whether that engine can run a pattern at all.
setFlagsFromString('--enable-experimental-regexp-engine');
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
/** V8's flag for the linear-time engine (only valid with the flag above). */
const LINEAR_FLAG = 'l';
/** Whether this V8 has the linear-time engine (`matches` is refused without it). */
const LINEAR_REGEXP = (() => {
  try {
    new RegExp('a', LINEAR_FLAG);
    return true;
  } catch {
    return false;
  }
})();

/** What the expression's result must be; checked at compile time when the type is known, else at evaluation. */
export type CelResultKind = 'bool' | 'list' | 'any';

export interface CelCompileOptions {
  /**
   * Variables the expression may read, each `dyn` (any JSON). `steps` is special: it must be
   * read as `steps.<key>` or `steps["key"]`, and those keys are listed in `stepRefs`.
   * @default ['input', 'steps']
   */
  variables?: readonly string[];
  /** @default 'any' */
  expect?: CelResultKind;
  /** Where the expression is, for messages: `steps[2].when`. @default 'the expression' */
  where?: string;
}

/** `data.reason` of a {@link CelCompileError}. */
export type CelCompileReason =
  'EXPRESSION_TOO_LONG' | 'EXPRESSION_SYNTAX' | 'EXPRESSION_TYPE' | 'EXPRESSION_RESULT_TYPE' | 'EXPRESSION_STEPS_ACCESS' | 'EXPRESSION_TOO_COMPLEX';

/** An expression that cannot be accepted. `data`: `{ reason, where, offset, expression }`. */
export class CelCompileError extends ValidationError {}

/**
 * An expression failed while it was evaluated (a missing key, a wrong type at run time, a result
 * that is not what is expected). `data`: `{ reason: 'EXPRESSION_EVALUATION', where, offset, fragment }`.
 */
export class CelEvaluationError extends ValidationError {}

export interface CompiledExpression {
  readonly source: string;
  /** Static result type as the checker sees it (`bool`, `dyn`, `list<int>`, …). */
  readonly resultType: string;
  /** Step keys read as `steps.<key>` (sorted, unique). */
  readonly stepRefs: readonly string[];
  /** Variables the expression reads at all (sorted, unique). */
  readonly variables: readonly string[];
  /**
   * Evaluates over `scope` (JSON values per variable; a missing variable reads as null) and
   * returns JSON. `where` overrides the compile-time location in messages.
   * @throws CelEvaluationError
   */
  evaluate(scope: Readonly<Record<string, Json>>, where?: string): Json;
}

/**
 * Parses, type-checks and inspects `source`. Cached by (source, options).
 * @throws CelCompileError
 */
export function compileExpression(source: string, options: CelCompileOptions = {}): CompiledExpression {
  const variables = [...(options.variables ?? ['input', 'steps'])].sort();
  const expect = options.expect ?? 'any';
  const where = options.where ?? 'the expression';
  const cacheKey = `${variables.join(',')}\u0000${expect}\u0000${source}`;
  const cached = cache.get(cacheKey);
  if (cached !== undefined) {
    // Refresh its place in the LRU order; `where` is per caller, the rest is shared.
    cache.delete(cacheKey);
    cache.set(cacheKey, cached);
    return withWhere(cached, where);
  }
  const compiled = compile(source, variables, expect, where);
  cache.set(cacheKey, compiled);
  if (cache.size > CEL_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return withWhere(compiled, where);
}

/** The `steps.<key>` an expression reads: for the registration check. @throws CelCompileError */
export function referencedSteps(source: string, options: CelCompileOptions = {}): readonly string[] {
  return compileExpression(source, options).stepRefs;
}

/** Forgets every compiled expression (tests). */
export function clearExpressionCache(): void {
  cache.clear();
}

// ---------------------------------------------------------------------------------------------

interface Compiled {
  source: string;
  resultType: string;
  stepRefs: readonly string[];
  variables: readonly string[];
  expect: CelResultKind;
  run: CelJs.ParseResult;
}

const cache = new Map<string, Compiled>();
const environments = new Map<string, CelJs.Environment>();

function environmentFor(variables: readonly string[]): CelJs.Environment {
  const key = variables.join(',');
  let env = environments.get(key);
  if (env === undefined) {
    env = new cel.Environment({
      unlistedVariablesAreDyn: false,
      // JSON arrays and objects mix types; so may literals written to compare with them.
      homogeneousAggregateLiterals: false,
      limits: { maxAstNodes: MAX_CEL_AST_NODES, maxDepth: MAX_CEL_DEPTH },
    });
    for (const name of variables) env.registerVariable(name, name === 'steps' ? 'map<string, dyn>' : 'dyn');
    environments.set(key, env);
  }
  return env;
}

function compile(source: string, variables: readonly string[], expect: CelResultKind, where: string): Compiled {
  if (typeof source !== 'string' || source.trim().length === 0) {
    compileFail('EXPRESSION_SYNTAX', `${where} is empty; write a CEL expression such as \`input.enabled == true\``, where, 0, source);
  }
  if (source.length > MAX_CEL_EXPRESSION_LENGTH) {
    compileFail(
      'EXPRESSION_TOO_LONG',
      `${where} is ${source.length} characters long; the limit is ${MAX_CEL_EXPRESSION_LENGTH}: move the logic into a step`,
      where,
      MAX_CEL_EXPRESSION_LENGTH,
      source,
    );
  }
  const env = environmentFor(variables);
  let run: CelJs.ParseResult;
  try {
    run = env.parse(source);
  } catch (e: unknown) {
    const { text, offset } = describeLibraryError(e);
    const tooBig = /maxAstNodes|maxDepth|max(?:imum)? .*(nodes|depth)|exceed/i.test(text);
    compileFail(tooBig ? 'EXPRESSION_TOO_COMPLEX' : 'EXPRESSION_SYNTAX', `${where} is not valid CEL at offset ${offset}: ${text}`, where, offset, source);
  }
  const checked = run.check();
  if (!checked.valid) {
    const { text, offset } = describeLibraryError(checked.error);
    compileFail('EXPRESSION_TYPE', `${where} does not type-check at offset ${offset}: ${text}`, where, offset, source);
  }
  const resultType = String(checked.type ?? 'dyn');
  if (!fitsKind(resultType, expect)) {
    compileFail('EXPRESSION_RESULT_TYPE', `${where} yields ${resultType}; it must yield ${expect}`, where, 0, source);
  }
  const { stepRefs, used } = inspect(run.ast, source, where);
  return { source, resultType, stepRefs, variables: used, expect, run };
}

function fitsKind(type: string, expect: CelResultKind): boolean {
  if (expect === 'any' || type === 'dyn') return true;
  if (expect === 'bool') return type === 'bool';
  return type === 'list' || type.startsWith('list<');
}

/** Walks the AST: which steps and variables are read, and the comprehension-nesting bound. */
function inspect(root: CelJs.ASTNode, source: string, where: string): { stepRefs: string[]; used: string[] } {
  const stepRefs = new Set<string>();
  const used = new Set<string>();
  // Iterative: depth is bounded by the parser already, but a stack of our own costs nothing.
  const stack: { node: CelJs.ASTNode; inComprehension: boolean }[] = [{ node: root, inComprehension: false }];
  while (stack.length > 0) {
    const { node, inComprehension } = stack.pop() as { node: CelJs.ASTNode; inComprehension: boolean };
    if (node.op === 'id') {
      used.add(node.args);
      if (node.args === 'steps') {
        compileFail(
          'EXPRESSION_STEPS_ACCESS',
          `${where} reads \`steps\` at offset ${node.start} other than as steps.<key>: name the step, e.g. steps.fetch.output`,
          where,
          node.start,
          source,
        );
      }
      continue;
    }
    if ((node.op === '.' || node.op === '.?') && isId(node.args[0], 'steps')) {
      stepRefs.add(node.args[1]);
      used.add('steps');
      continue;
    }
    if ((node.op === '[]' || node.op === '[?]') && isId(node.args[0], 'steps') && node.args[1].op === 'value' && typeof node.args[1].args === 'string') {
      stepRefs.add(node.args[1].args);
      used.add('steps');
      continue;
    }
    if (node.op === 'rcall' && node.args[0] === 'matches') checkPattern(node, source, where);
    if (node.op === 'rcall' && COMPREHENSIONS.has(node.args[0])) {
      if (inComprehension) {
        compileFail(
          'EXPRESSION_TOO_COMPLEX',
          `${where} nests .${node.args[0]}() inside another comprehension at offset ${node.start}; ` +
            'nested comprehensions cost list length squared: compute the inner list in a step',
          where,
          node.start,
          source,
        );
      }
      stack.push({ node: node.args[1], inComprehension });
      for (const arg of node.args[2]) stack.push({ node: arg, inComprehension: true });
      continue;
    }
    for (const child of children(node)) stack.push({ node: child, inComprehension });
  }
  return { stepRefs: [...stepRefs].sort(), used: [...used].sort() };
}

/** A `matches` pattern must be a literal the linear-time engine can run: it then cannot backtrack for long. */
function checkPattern(node: CelJs.ASTNode & { op: 'rcall' }, source: string, where: string): void {
  const pattern = node.args[2][0];
  const refuse = (why: string): never =>
    compileFail('EXPRESSION_TOO_COMPLEX', `${where} calls matches() at offset ${node.start} ${why}`, where, node.start, source);
  if (!LINEAR_REGEXP) refuse('but this Node.js has no linear-time regular expression engine: use contains(), startsWith() or endsWith()');
  if (pattern?.op !== 'value' || typeof pattern.args !== 'string') refuse('with a pattern that is not a string literal: write the pattern in the expression');
  try {
    new RegExp(pattern.args as string, LINEAR_FLAG);
  } catch {
    refuse(`with a pattern that needs backtracking (backreferences or lookarounds are not supported, as in RE2): ${JSON.stringify(pattern.args)}`);
  }
}

function isId(node: CelJs.ASTNode, name: string): boolean {
  return node.op === 'id' && node.args === name;
}

function isNode(value: unknown): value is CelJs.ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

function children(node: CelJs.ASTNode): CelJs.ASTNode[] {
  const out: CelJs.ASTNode[] = [];
  const visit = (value: unknown): void => {
    if (isNode(value)) out.push(value);
    else if (Array.isArray(value)) value.forEach(visit);
  };
  if (node.op !== 'value') visit(node.args);
  return out;
}

function withWhere(compiled: Compiled, compiledWhere: string): CompiledExpression {
  return {
    source: compiled.source,
    resultType: compiled.resultType,
    stepRefs: compiled.stepRefs,
    variables: compiled.variables,
    evaluate: (scope, where = compiledWhere) => evaluateCompiled(compiled, scope, where),
  };
}

function evaluateCompiled(compiled: Compiled, scope: Readonly<Record<string, Json>>, where: string): Json {
  const context: Record<string, unknown> = {};
  const values: Record<string, Json> = {};
  for (const name of compiled.variables) {
    values[name] = Object.hasOwn(scope, name) ? scope[name]! : null;
    context[name] = toCel(values[name]);
  }
  const cost = celCostBound(compiled.run.ast, values);
  if (cost > MAX_CEL_COST) {
    throw new CelEvaluationError(
      `${where} could cost ${cost.toPrecision(3)} units over values of this size, more than the ${MAX_CEL_COST} an expression may (MAX_CEL_COST): ` +
        'copying or scanning a large list inside a comprehension or a long chain of + multiplies the work; compute it in a step',
      { reason: 'EXPRESSION_TOO_COSTLY', where, offset: 0, fragment: compiled.source.slice(0, 200), cost, max: MAX_CEL_COST },
    );
  }
  let raw: unknown;
  try {
    raw = compiled.run(context);
  } catch (e: unknown) {
    const { text, offset, start, end } = describeLibraryError(e);
    const fragment = compiled.source.slice(start, Math.max(end, start));
    const hint = /No such key/.test(text) ? ' (test for it first with has(…), e.g. has(input.x) && input.x > 1)' : '';
    evaluationFail(`${where} failed at offset ${offset}${fragment ? ` (\`${fragment}\`)` : ''}: ${text}${hint}`, where, offset, fragment);
  }
  if (compiled.expect === 'bool' && typeof raw !== 'boolean') {
    evaluationFail(`${where} must yield a bool; it yielded ${describeValue(raw)}`, where, 0, compiled.source);
  }
  if (compiled.expect === 'list' && !Array.isArray(raw)) {
    evaluationFail(`${where} must yield a list; it yielded ${describeValue(raw)}`, where, 0, compiled.source);
  }
  return fromCel(raw, where, compiled.source);
}

/** JSON → CEL: integral numbers become `int` (BigInt) so integer arithmetic with literals works. */
function toCel(value: Json): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) out[key] = toCel(value[key]);
    return out;
  }
  return value;
}

/** CEL → JSON. */
function fromCel(value: unknown, where: string, source: string): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      evaluationFail(`${where} yielded the integer ${value}, beyond what JSON numbers hold exactly (±2^53−1)`, where, 0, source);
    }
    return Number(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) evaluationFail(`${where} yielded ${value}, which JSON cannot hold`, where, 0, source);
    return value;
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => fromCel(v, where, source));
  if (value instanceof Map) {
    const out: Record<string, Json> = {};
    for (const [k, v] of value) out[String(k)] = fromCel(v, where, source);
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    const name = value.constructor?.name;
    // uint values (`1u`): the class is not exported from the package root.
    if (name === 'UnsignedInt' && typeof (value as { value?: unknown }).value === 'bigint') {
      return fromCel((value as { value: bigint }).value, where, source);
    }
    if (name === 'Duration') {
      const d = value as { seconds: number | bigint; nanos: number };
      return `${Number(d.seconds) + d.nanos / 1e9}s`;
    }
    if (value.constructor === Object || Object.getPrototypeOf(value) === null) {
      const out: Record<string, Json> = {};
      for (const key of Object.keys(value)) out[key] = fromCel((value as Record<string, unknown>)[key], where, source);
      return out;
    }
  }
  return evaluationFail(`${where} yielded ${describeValue(value)}, which has no JSON form`, where, 0, source);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'bigint') return `the int ${value}`;
  if (typeof value === 'object') return value.constructor?.name === 'Object' ? 'a map' : `a ${value.constructor?.name ?? 'value'}`;
  return `the ${typeof value === 'number' ? 'double' : typeof value} ${JSON.stringify(value)}`;
}

/** The first line of a library error (the rest is an ASCII-art pointer) and its offsets. */
function describeLibraryError(e: unknown): { text: string; offset: number; start: number; end: number } {
  const err = e as { message?: unknown; node?: { pos?: number; start?: number; end?: number } } | undefined;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const text = message.split('\n')[0].trim();
  const node = err?.node;
  const offset = typeof node?.pos === 'number' ? node.pos : typeof node?.start === 'number' ? node.start : 0;
  const start = typeof node?.start === 'number' ? node.start : offset;
  const end = typeof node?.end === 'number' ? node.end : offset;
  return { text, offset, start, end };
}

function compileFail(reason: CelCompileReason, message: string, where: string, offset: number, expression: unknown): never {
  throw new CelCompileError(message, { reason, where, offset, expression });
}

function evaluationFail(message: string, where: string, offset: number, fragment: string): never {
  throw new CelEvaluationError(message, { reason: 'EXPRESSION_EVALUATION', where, offset, fragment });
}
