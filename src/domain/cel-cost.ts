/**
 * An upper bound on what evaluating a CEL expression costs, computed from its syntax tree and the
 * sizes of the values it reads, before it runs (`compileExpression` refuses to run one over
 * {@link MAX_CEL_COST}). The library has no run-time budget, and its operators copy: `l + l`
 * builds a new list, `x in l` scans one, `l.join(s)` repeats `s`. Without a bound, one condition
 * over a 1 MB input could hold the event loop for hours — `size(input.l + input.l + …)` with 100
 * terms over 100,000 items took 19 s; `input.l.map(x, x in input.l)` over 500,000 items would
 * take days — on every replica that picked the transition up.
 *
 * Units: the size of a value is its JSON nodes plus the characters of its strings and keys
 * ({@link celValueSize}); an operation costs the sizes it reads and writes. A unit is about 20 ns
 * of evaluation (measured: 4.2 M units in 88 ms), so {@link MAX_CEL_COST} is about a second at
 * worst; the bound is loose (a filter and a map over 20,000 objects bound at 21 M, ran in 60 ms).
 *
 * The bound is linear in the current comprehension item: inside `l.map(x, body)` every size is
 * `a·|x| + c`, so over all items it is at most `a·|l| + c·|l|` (the items' sizes add up to at most
 * the list's, and there are at most as many items as units). Comprehensions do not nest (the
 * compiler refuses that), which keeps the bound this simple.
 */
import type * as CelJs from '@marcbachmann/cel-js' with { 'resolution-mode': 'import' };

/** The most an expression may cost in one evaluation (units above). */
export const MAX_CEL_COST = 50_000_000;

/** `a·X + c`: X is the size of the current comprehension item (0 outside one). */
interface Linear {
  a: number;
  c: number;
}

interface Measure {
  size: Linear;
  cost: Linear;
}

const ONE: Linear = { a: 0, c: 1 };
const add = (...ls: Linear[]): Linear => ({ a: ls.reduce((s, l) => s + l.a, 0), c: ls.reduce((s, l) => s + l.c, 0) });
const constant = (c: number): Linear => ({ a: 0, c });

/** Functions whose result is a number or a bool: cheap to hold, but they read their arguments. */
const SMALL_RESULTS: ReadonlySet<string> = new Set([
  'size',
  'contains',
  'startsWith',
  'endsWith',
  'indexOf',
  'lastIndexOf',
  'int',
  'uint',
  'double',
  'bool',
  'at',
  'hasValue',
  'all',
  'exists',
  'exists_one',
]);
const COMPREHENSIONS: ReadonlySet<string> = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
/** A regular expression runs in time (subject × pattern) on the linear engine: this bounds the pattern factor. */
const REGEX_FACTOR = 16;

/** The size of a JSON-like value (as CEL sees it: bigints, Maps and arrays too), without recursion. */
export function celValueSize(value: unknown): number {
  return new ValueSizes().of(value);
}

/**
 * Sizes of a value and of every object and array inside it, measured once (post-order, without
 * recursion), so a field path read by an expression (`input.small`) costs what that field holds,
 * not what the whole input does.
 */
export class ValueSizes {
  private readonly known = new WeakMap<object, number>();

  of(value: unknown): number {
    if (typeof value === 'string') return 1 + value.length;
    if (typeof value !== 'object' || value === null) return 1;
    const done = this.known.get(value);
    if (done !== undefined) return done;
    const stack: { v: object; expanded: boolean }[] = [{ v: value, expanded: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (this.known.has(top.v)) {
        stack.pop();
        continue;
      }
      const children = childrenOf(top.v);
      if (!top.expanded) {
        top.expanded = true;
        for (const c of children) if (typeof c === 'object' && c !== null && !this.known.has(c)) stack.push({ v: c, expanded: false });
        continue;
      }
      let size = 1;
      for (const c of children) size += typeof c === 'object' && c !== null ? (this.known.get(c) ?? 1) : this.of(c);
      if (!Array.isArray(top.v) && !(top.v instanceof Map)) for (const k of Object.keys(top.v)) size += k.length;
      this.known.set(top.v, size);
      stack.pop();
    }
    return this.known.get(value)!;
  }
}

function childrenOf(v: object): unknown[] {
  if (Array.isArray(v)) return v;
  if (v instanceof Map) return [...v.keys(), ...v.values()];
  if (ArrayBuffer.isView(v)) return [];
  return Object.values(v);
}

/**
 * An upper bound on the cost of evaluating `ast` over `values` (the variables it reads, as JSON;
 * a variable not listed counts as 1).
 */
export function celCostBound(ast: CelJs.ASTNode, values: Readonly<Record<string, unknown>>): number {
  const m = measure(ast, { vars: new Map(), n: 0, values, sizes: new ValueSizes() });
  // Outside a comprehension nothing depends on an item. The result is walked once more, into
  // JSON: `input.l.map(x, input.l)` holds only references, but 30,000 of them to a list of 30,000
  // are 9e8 values to convert (the process ran out of memory on a 60 KB input).
  return m.cost.c + m.size.c;
}

interface Scope {
  /** Variables bound by comprehensions and cel.bind, with their sizes. */
  vars: Map<string, Linear>;
  /** Size bound of the list the enclosing comprehension walks (0 outside one). */
  n: number;
  values: Readonly<Record<string, unknown>>;
  sizes: ValueSizes;
}

const MISSING = Symbol('missing');

/**
 * The value a static path (`input.a.b`, `steps["x"].output`) reads from a variable of the scope,
 * MISSING when it is not one (a bound variable, a computed index) or reads nothing.
 */
function staticValue(node: CelJs.ASTNode, scope: Scope): unknown {
  if (node.op === 'id') {
    const name = node.args as string;
    return scope.vars.has(name) || !Object.hasOwn(scope.values, name) ? MISSING : scope.values[name];
  }
  let key: unknown;
  let inner: CelJs.ASTNode;
  if (node.op === '.' || node.op === '.?') [inner, key] = node.args as [CelJs.ASTNode, string];
  else if ((node.op === '[]' || node.op === '[?]') && (node.args as CelJs.ASTNode[])[1]!.op === 'value') {
    inner = (node.args as CelJs.ASTNode[])[0]!;
    key = (node.args as CelJs.ASTNode[])[1]!.args;
  } else return MISSING;
  const from = staticValue(inner, scope);
  if (from === MISSING || typeof from !== 'object' || from === null) return MISSING;
  if (Array.isArray(from)) {
    const i = typeof key === 'bigint' ? Number(key) : key;
    return typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < from.length ? from[i] : MISSING;
  }
  return typeof key === 'string' && Object.hasOwn(from, key) ? (from as Record<string, unknown>)[key] : MISSING;
}

/** A linear size turned into a constant, with the item at its largest. */
const flat = (l: Linear, scope: Scope): number => l.a * scope.n + l.c;

function measure(node: CelJs.ASTNode, scope: Scope): Measure {
  const args = node.args as unknown;
  switch (node.op) {
    case 'value':
      return { size: constant(celValueSize(args)), cost: ONE };
    case 'id': {
      const name = args as string;
      const bound = scope.vars.get(name);
      return { size: bound ?? constant(Object.hasOwn(scope.values, name) ? scope.sizes.of(scope.values[name]) : 1), cost: ONE };
    }
    case '.':
    case '.?': {
      const [obj] = args as [CelJs.ASTNode, string];
      const m = measure(obj, scope);
      const known = staticValue(node, scope);
      // A field read from the scope holds what it holds; otherwise at most what it is read from.
      return { size: known === MISSING ? m.size : constant(scope.sizes.of(known)), cost: add(m.cost, ONE) };
    }
    case 'list': {
      const items = (args as CelJs.ASTNode[]).map((x) => measure(x, scope));
      const size = add(constant(items.length + 1), ...items.map((x) => x.size));
      return { size, cost: add(size, ...items.map((x) => x.cost)) };
    }
    case 'map': {
      const entries = (args as [CelJs.ASTNode, CelJs.ASTNode][]).flat().map((x) => measure(x, scope));
      const size = add(constant(entries.length + 1), ...entries.map((x) => x.size));
      return { size, cost: add(size, ...entries.map((x) => x.cost)) };
    }
    case '+': {
      const [l, r] = (args as CelJs.ASTNode[]).map((x) => measure(x, scope)) as [Measure, Measure];
      // Concatenation copies both sides (lists, strings, bytes); numbers cost as much as their size, 1.
      const size = add(l.size, r.size);
      return { size, cost: add(l.cost, r.cost, size) };
    }
    case '?:': {
      const parts = (args as CelJs.ASTNode[]).map((x) => measure(x, scope));
      return { size: add(...parts.slice(1).map((x) => x.size)), cost: add(...parts.map((x) => x.cost)) };
    }
    case 'rcall':
    case 'call': {
      const [name, receiver, list] =
        node.op === 'rcall'
          ? (args as [string, CelJs.ASTNode, CelJs.ASTNode[]])
          : [(args as [string, CelJs.ASTNode[]])[0], null, (args as [string, CelJs.ASTNode[]])[1]];
      if (node.op === 'rcall' && COMPREHENSIONS.has(name)) return comprehension(name, receiver!, list, scope);
      if (name === 'bind' && receiver?.op === 'id' && receiver.args === 'cel' && list.length === 3 && list[0]!.op === 'id') {
        const value = measure(list[1]!, scope);
        const vars = new Map(scope.vars).set(list[0]!.args as string, value.size);
        const body = measure(list[2]!, { ...scope, vars });
        return { size: body.size, cost: add(value.cost, body.cost) };
      }
      if (name === 'has') return { size: ONE, cost: ONE };
      const parts = [...(receiver ? [receiver] : []), ...list].map((x) => measure(x, scope));
      const read = add(...parts.map((x) => x.size));
      const cost = add(ONE, ...parts.map((x) => x.cost));
      if (name === 'matches') return { size: ONE, cost: add(cost, { a: read.a * REGEX_FACTOR, c: read.c * REGEX_FACTOR }) };
      if (SMALL_RESULTS.has(name)) return { size: ONE, cost: add(cost, read) };
      if (name === 'join' && parts.length === 2) {
        // Every item, and the separator between each two: items × separator.
        const size = constant(flat(parts[0]!.size, scope) * (1 + flat(parts[1]!.size, scope)));
        return { size, cost: add(cost, size) };
      }
      // Conversions, substrings, split, trim, case, base64/hex (a third larger), json, timestamps:
      // the result is at most twice what they read.
      const size = add(read, read, ONE);
      return { size, cost: add(cost, read, size) };
    }
    default: {
      // Operators (comparisons, `in`, arithmetic, logic, unary, index): read the operands, yield
      // at most the first operand (an index into a list or map) or a scalar.
      const children = (Array.isArray(args) ? (args as unknown[]) : [args]).filter(isNode).map((x) => measure(x, scope));
      const read = add(...children.map((x) => x.size));
      const index = node.op === '[]' || node.op === '[?]';
      const known = index ? staticValue(node, scope) : MISSING;
      const size = known !== MISSING ? constant(scope.sizes.of(known)) : index ? (children[0]?.size ?? ONE) : ONE;
      return { size, cost: add(ONE, read, ...children.map((x) => x.cost)) };
    }
  }
}

function comprehension(name: string, receiver: CelJs.ASTNode, list: CelJs.ASTNode[], scope: Scope): Measure {
  const over = measure(receiver, scope);
  // The list walked: never inside another comprehension's body (refused at compile time).
  const n = flat(over.size, scope);
  const [variable, ...bodies] = list;
  const vars = new Map(scope.vars);
  if (variable?.op === 'id') vars.set(variable.args as string, { a: 1, c: 0 });
  const inner: Scope = { ...scope, vars, n };
  const measured = bodies.map((b) => measure(b, inner));
  // Over all items: Σ (a·|x| + c) ≤ a·n + c·n.
  const total = (l: Linear) => (l.a + l.c) * n;
  const cost = constant(flat(over.cost, scope) + n + measured.reduce((s, m) => s + total(m.cost), 0));
  if (name === 'map') return { size: constant(n + total(measured.at(-1)!.size)), cost };
  if (name === 'filter') return { size: constant(n), cost };
  return { size: ONE, cost };
}

function isNode(value: unknown): value is CelJs.ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}
