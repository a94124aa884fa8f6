import { describe, expect, it } from 'vitest';
import { TemplateError, ValidationError } from '../../src/domain/errors';
import type { Json } from '../../src/domain/glossary';
import type { TemplateScope } from '../../src/domain/templates';
import { listTemplates, resolveTemplates, templateDependencies } from '../../src/domain/templates';

const customer = { id: 'c-1', tier: 3, vip: true, tags: ['a', 'b'], address: null };
const items = [
  { id: 'i-1', qty: 2 },
  { id: 'i-2', qty: 5 },
];
const fetchOutput = {
  status: 200,
  body: { items, empty: '', missing: null },
  matrix: [
    [1, 2],
    [3, 4],
  ],
};
const runInput = { customer, n: 0, '0': 'zero-key' };
const scope: TemplateScope = {
  input: runInput,
  steps: { fetch: { output: fetchOutput }, count: { output: 42 }, nothing: { output: null } },
};

/** The TemplateError `fn` throws; fails the test if it throws nothing or something else. */
function templateError(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (e: unknown) {
    expect(e).toBeInstanceOf(TemplateError);
    return e as TemplateError;
  }
  throw new Error('expected a TemplateError, nothing was thrown');
}

describe('resolveTemplates', () => {
  it.each<{ case: string; value: Json; expected: Json }>([
    // A string that is exactly one template yields the raw JSON value.
    { case: 'whole object', value: '{{ input.customer }}', expected: customer },
    { case: 'whole input', value: '{{input}}', expected: runInput },
    { case: 'whole step output', value: '{{ steps.fetch.output }}', expected: fetchOutput },
    { case: 'number', value: '{{ steps.count.output }}', expected: 42 },
    { case: 'zero', value: '{{ input.n }}', expected: 0 },
    { case: 'boolean', value: '{{ input.customer.vip }}', expected: true },
    { case: 'null', value: '{{ input.customer.address }}', expected: null },
    { case: 'null output', value: '{{ steps.nothing.output }}', expected: null },
    { case: 'empty string', value: '{{ steps.fetch.output.body.empty }}', expected: '' },
    { case: 'array', value: '{{ input.customer.tags }}', expected: ['a', 'b'] },
    { case: 'dotted array index', value: '{{ steps.fetch.output.body.items.1.id }}', expected: 'i-2' },
    { case: 'bracket array index', value: '{{ steps.fetch.output.body.items[0].qty }}', expected: 2 },
    { case: 'nested indices', value: '{{ steps.fetch.output.matrix[1][0] }}', expected: 3 },
    { case: 'mixed index forms', value: '{{ steps.fetch.output.matrix.0[1] }}', expected: 2 },
    { case: 'digit key on an object', value: '{{ input.0 }}', expected: 'zero-key' },
    { case: 'whitespace around the path', value: '{{ \t input.customer.id\n }}', expected: 'c-1' },
  ])('yields the raw value: $case', ({ value, expected }) => {
    expect(resolveTemplates(value, scope)).toEqual(expected);
  });

  it.each<{ case: string; value: string; expected: string }>([
    { case: 'string', value: 'customer {{ input.customer.id }}!', expected: 'customer c-1!' },
    { case: 'number', value: 'qty={{ steps.fetch.output.body.items[1].qty }}', expected: 'qty=5' },
    { case: 'zero', value: 'n={{ input.n }}', expected: 'n=0' },
    { case: 'boolean', value: 'vip={{ input.customer.vip }}', expected: 'vip=true' },
    { case: 'null as empty', value: 'addr=[{{ input.customer.address }}]', expected: 'addr=[]' },
    { case: 'object as JSON', value: 'item: {{ steps.fetch.output.body.items.0 }}', expected: 'item: {"id":"i-1","qty":2}' },
    { case: 'array as JSON', value: 'tags={{ input.customer.tags }}', expected: 'tags=["a","b"]' },
    {
      case: 'several templates',
      value: '/customers/{{input.customer.id}}/items/{{ steps.fetch.output.body.items[1].id }}',
      expected: '/customers/c-1/items/i-2',
    },
    { case: 'adjacent templates', value: '{{ input.customer.id }}{{ input.n }}', expected: 'c-10' },
    { case: 'spaces outside the braces', value: ' {{ steps.count.output }} ', expected: ' 42 ' },
    { case: 'no template', value: 'plain } { text }}', expected: 'plain } { text }}' },
    { case: 'empty string', value: '', expected: '' },
  ])('interpolates inside text: $case', ({ value, expected }) => {
    expect(resolveTemplates(value, scope)).toBe(expected);
  });

  it('walks nested arrays and objects and passes non-string values through', () => {
    const input: Json = {
      url: 'https://api/{{ input.customer.id }}',
      body: { items: '{{ steps.fetch.output.body.items }}', qty: ['{{ steps.fetch.output.body.items[0].qty }}', 7] },
      flags: [true, false, null, 1.5, { deep: ['{{ input.customer.vip }}'] }],
      '{{ input.customer.id }}': 'keys are not templated',
    };
    expect(resolveTemplates(input, scope)).toEqual({
      url: 'https://api/c-1',
      body: { items, qty: [2, 7] },
      flags: [true, false, null, 1.5, { deep: [true] }],
      '{{ input.customer.id }}': 'keys are not templated',
    });
  });

  it.each<Json>([null, true, false, 0, -1.5, 'text', [], {}, [1, [2, [null]]]])('passes %j through unchanged', (value) => {
    expect(resolveTemplates(value, scope)).toEqual(value);
  });

  it('does not mutate its argument and keeps a "__proto__" key as data', () => {
    const input = JSON.parse('{"__proto__": "{{ input.n }}", "a": ["{{ input.n }}"]}') as Json;
    const copy = structuredClone(input);
    const out = resolveTemplates(input, scope) as Record<string, Json>;
    expect(input).toEqual(copy);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(out.a).toEqual([0]);
  });

  it.each<{ case: string; value: string; message: string; path: string }>([
    {
      case: 'missing object key',
      value: '{{ steps.fetch.output.body.x }}',
      message: 'Template "{{ steps.fetch.output.body.x }}" cannot be resolved: "x" does not exist on steps.fetch.output.body',
      path: 'steps.fetch.output.body.x',
    },
    {
      case: 'missing key in interpolation',
      value: 'id={{ input.customer.nope }}',
      message: 'Template "{{ input.customer.nope }}" cannot be resolved: "nope" does not exist on input.customer',
      path: 'input.customer.nope',
    },
    {
      case: 'index out of range',
      value: '{{ steps.fetch.output.body.items[2] }}',
      message: '"2" does not exist on steps.fetch.output.body.items (an array of length 2)',
      path: 'steps.fetch.output.body.items.2',
    },
    {
      case: 'name on an array',
      value: '{{ input.customer.tags.length }}',
      message: '"length" does not exist on input.customer.tags (an array of length 2)',
      path: 'input.customer.tags.length',
    },
    {
      case: 'non-canonical index',
      value: '{{ input.customer.tags.01 }}',
      message: '"01" does not exist on input.customer.tags',
      path: 'input.customer.tags.01',
    },
    { case: 'key on a string', value: '{{ input.customer.id.x }}', message: '"x" does not exist on input.customer.id (a string)', path: 'input.customer.id.x' },
    {
      case: 'key on a number',
      value: '{{ steps.count.output.x }}',
      message: '"x" does not exist on steps.count.output (a number)',
      path: 'steps.count.output.x',
    },
    {
      case: 'key on null',
      value: '{{ input.customer.address.city }}',
      message: '"city" does not exist on input.customer.address (null)',
      path: 'input.customer.address.city',
    },
    { case: 'prototype member', value: '{{ input.constructor }}', message: '"constructor" does not exist on input', path: 'input.constructor' },
    {
      case: 'prototype member of a step',
      value: '{{ steps.toString.output }}',
      message: 'step "toString" is not a finished dependency',
      path: 'steps.toString.output',
    },
    {
      case: 'step not in scope',
      value: '{{ steps.charge.output.id }}',
      message: 'Template "{{ steps.charge.output.id }}" cannot be resolved: step "charge" is not a finished dependency of this step; add it to dependsOn',
      path: 'steps.charge.output.id',
    },
  ])('throws a TemplateError when the path does not resolve: $case', ({ value, message, path }) => {
    const e = templateError(() => resolveTemplates({ nested: [value] }, scope));
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.code).toBe('BAD_USER_INPUT');
    expect(e.message).toContain(message);
    expect(e.data).toEqual({ template: value.slice(value.indexOf('{{')), path });
  });

  it.each<{ case: string; value: string; template: string; message: string }>([
    { case: 'empty', value: '{{ }}', template: '{{ }}', message: 'the path is empty' },
    { case: 'empty without spaces', value: 'a{{}}b', template: '{{}}', message: 'the path is empty' },
    { case: 'double dot', value: '{{ input..a }}', template: '{{ input..a }}', message: 'expected a name or an index after "input."' },
    { case: 'trailing dot', value: '{{ input.a. }}', template: '{{ input.a. }}', message: 'after "input.a."' },
    { case: 'leading dot', value: '{{ .input }}', template: '{{ .input }}', message: 'must start with "input" or "steps"' },
    { case: 'unclosed', value: 'x {{ input.a', template: '{{ input.a', message: 'no closing "}}"' },
    { case: 'space inside the path', value: '{{ input. a }}', template: '{{ input. a }}', message: 'after "input."' },
    { case: 'string index', value: '{{ input["a"] }}', template: '{{ input["a"] }}', message: 'expected a number and "]" after "input["' },
    { case: 'unclosed bracket', value: '{{ input.a[0 }}', template: '{{ input.a[0 }}', message: 'expected a number and "]"' },
    { case: 'negative index', value: '{{ input.a[-1] }}', template: '{{ input.a[-1] }}', message: 'expected a number' },
    { case: 'function call', value: '{{ input.a() }}', template: '{{ input.a() }}', message: 'unexpected "("' },
    { case: 'expression', value: '{{ input.a + 1 }}', template: '{{ input.a + 1 }}', message: 'unexpected " "' },
    { case: 'triple braces', value: '{{{ input.a }}}', template: '{{{ input.a }}', message: 'must start with "input" or "steps"' },
    {
      case: 'unknown root',
      value: '{{ env.SECRET }}',
      template: '{{ env.SECRET }}',
      message: 'unknown root "env": paths start with "input", "steps", "item" or "index"',
    },
    { case: 'root with wrong case', value: '{{ Input.a }}', template: '{{ Input.a }}', message: 'unknown root "Input"' },
    { case: 'bare steps', value: '{{ steps }}', template: '{{ steps }}', message: 'a step is read as steps.<key>.output' },
    { case: 'step without output', value: '{{ steps.fetch }}', template: '{{ steps.fetch }}', message: 'a step is read as steps.fetch.output' },
    {
      case: 'step field other than output',
      value: '{{ steps.fetch.status }}',
      template: '{{ steps.fetch.status }}',
      message: 'a step is read as steps.fetch.output',
    },
  ])('throws a TemplateError for a malformed template: $case', ({ value, template, message }) => {
    const e = templateError(() => resolveTemplates(value, scope));
    expect(e.message).toContain(`Template ${JSON.stringify(template)}`);
    expect(e.message).toContain(message);
    expect(e.data.template).toBe(template);
    // The same errors surface without a scope, which is how registration checks syntax.
    expect(() => listTemplates(value)).toThrow(TemplateError);
  });
});

describe('templateDependencies and listTemplates', () => {
  it.each<{ case: string; value: Json; deps: string[] }>([
    { case: 'no templates', value: { a: 'plain', b: [1, null] }, deps: [] },
    { case: 'input only', value: '{{ input.x }}', deps: [] },
    {
      case: 'nested, repeated, sorted',
      value: {
        a: '{{ steps.zeta.output }} and {{ steps.alpha.output.x[0] }}',
        b: [{ c: '{{ steps.zeta.output.y }}' }, '{{ steps.mid-step.output }}', 5],
      },
      deps: ['alpha', 'mid-step', 'zeta'],
    },
  ])('$case', ({ value, deps }) => {
    expect(templateDependencies(value)).toEqual(deps);
  });

  it('lists each template with its canonical path and step key, in walk order', () => {
    expect(listTemplates({ a: 'x{{ steps.fetch.output.items[0].id }}y', b: ['{{input}}'] })).toEqual([
      {
        template: '{{ steps.fetch.output.items[0].id }}',
        path: 'steps.fetch.output.items.0.id',
        segments: ['steps', 'fetch', 'output', 'items', '0', 'id'],
        stepKey: 'fetch',
      },
      { template: '{{input}}', path: 'input', segments: ['input'], stepKey: null },
    ]);
  });

  it('throws on malformed templates', () => {
    expect(() => templateDependencies({ a: ['{{ steps..x }}'] })).toThrow(TemplateError);
  });
});

describe('item and index (a forEach step)', () => {
  const scope = { input: { k: 'v' }, steps: {}, fanItem: { item: { id: 7, tags: ['a'] }, index: 3 } };

  it('reads the item whole, by path, and its index', () => {
    expect(resolveTemplates({ whole: '{{ item }}', id: '{{ item.id }}', tag: '{{ item.tags[0] }}', at: '{{ index }}', s: 'n{{ index }}' }, scope)).toEqual({
      whole: { id: 7, tags: ['a'] },
      id: 7,
      tag: 'a',
      at: 3,
      s: 'n3',
    });
  });

  it('is an error outside a forEach step, and index has no fields', () => {
    expect(() => resolveTemplates('{{ item.id }}', { input: {}, steps: {} })).toThrow(/only the input of a step with forEach reads item and index/);
    expect(() => resolveTemplates('{{ index.x }}', scope)).toThrow(/is a number: it has no fields/);
  });
});
