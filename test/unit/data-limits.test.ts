import { parseValue } from 'graphql';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { limitsFromConfig } from '../../src/config/limits';
import { LimitExceededError, ValidationError } from '../../src/domain/errors';
import type { Json } from '../../src/domain/glossary';
import { checkJson, checkWellFormed, HARD_MAX_JSON_DEPTH, jsonBytesUpTo } from '../../src/domain/json-limits';
import { JSONScalar } from '../../src/graphql/scalars';
import { checkExpansion, DEFAULT_EXPANSION_LIMITS, resolveTemplates } from '../../src/domain/templates';

const MIB = 1024 * 1024;

function nested(depth: number): Json {
  let v: Json = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function limitError(fn: () => unknown): LimitExceededError {
  try {
    fn();
  } catch (e: unknown) {
    if (e instanceof LimitExceededError) return e;
    throw e;
  }
  throw new Error('expected LIMIT_EXCEEDED, nothing was thrown');
}

describe('template expansion is capped while it expands (issue 11, finding 1)', () => {
  // The finding: 1.65 MB of templates × 28 KB of input = ~4 GB, heap out of memory. A small
  // version: 10 KB of input × 10,000 templates in one string would be a ~100 MB string.
  const blob = 'x'.repeat(10 * 1024);
  const manyInOneString = '{{ input.blob }}'.repeat(10_000);

  it('refuses a string that would expand to ~100 MB, quickly and without allocating it', () => {
    global.gc?.();
    const before = process.memoryUsage();
    const started = performance.now();
    const e = limitError(() => resolveTemplates({ s: manyInOneString }, { input: { blob }, steps: {} }));
    const ms = performance.now() - started;
    const after = process.memoryUsage();
    const rssMb = (after.rss - before.rss) / MIB;
    const heapMb = (after.heapUsed - before.heapUsed) / MIB;
    console.log(`10 KB × 10,000 templates refused in ${ms.toFixed(1)} ms; RSS +${rssMb.toFixed(1)} MB, heap +${heapMb.toFixed(1)} MB`);
    expect(e.data).toMatchObject({ limit: 'MAX_TEMPLATE_STRING_BYTES', max: MIB });
    expect(e.data['actual']).toBeGreaterThan(MIB);
    expect(ms).toBeLessThan(2_000);
    expect(rssMb).toBeLessThan(50);
  });

  it('refuses a task input whose strings are each small but add up past MAX_TEMPLATE_TASK_BYTES', () => {
    // 600 strings of 10 KB each: 6 MB in all, none over the per-string limit.
    const input = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`k${i}`, 'a {{ input.blob }}']));
    const e = limitError(() => resolveTemplates(input, { input: { blob }, steps: {} }));
    expect(e.data).toMatchObject({ limit: 'MAX_TEMPLATE_TASK_BYTES', max: 4 * MIB });
  });

  it('counts whole-value templates, which share memory but are stored in full each time', () => {
    const input = Array.from({ length: 1_000 }, () => '{{ input }}');
    const e = limitError(() => resolveTemplates(input, { input: { blob }, steps: {} }));
    expect(e.data).toMatchObject({ limit: 'MAX_TEMPLATE_TASK_BYTES' });
  });

  it('applies configured limits, and resolves what fits exactly as before', () => {
    const limits = { maxTemplateStringBytes: 100, maxTemplateTaskBytes: 1_000 };
    expect(resolveTemplates({ s: 'id={{ input.id }}' }, { input: { id: 7 }, steps: {} }, limits)).toEqual({ s: 'id=7' });
    expect(limitError(() => resolveTemplates({ s: '{{ input.t }}{{ input.t }}' }, { input: { t: 'y'.repeat(60) }, steps: {} }, limits)).data).toMatchObject({
      limit: 'MAX_TEMPLATE_STRING_BYTES',
      max: 100,
    });
  });

  it('checkExpansion gives a lower bound from the run input alone, steps.… templates counting as empty', () => {
    expect(checkExpansion({ a: '{{ steps.x.output }}' }, {})).toBeLessThan(50);
    const e = limitError(() => checkExpansion({ s: `{{ steps.x.output.y }}${manyInOneString}` }, { blob }));
    expect(e.data['limit']).toBe('MAX_TEMPLATE_STRING_BYTES');
  });

  it('keeps the domain defaults equal to the configuration defaults', () => {
    const limits = limitsFromConfig(loadConfig({}));
    expect({ maxTemplateStringBytes: limits.maxTemplateStringBytes, maxTemplateTaskBytes: limits.maxTemplateTaskBytes }).toEqual(DEFAULT_EXPANSION_LIMITS);
  });
});

describe('checkJson', () => {
  const bounds = { what: 'the run input', maxDepth: 64, maxBytes: 1_000, bytesLimit: 'MAX_INPUT_BYTES' };

  it('measures the JSON text of a value', () => {
    for (const v of [null, true, 12.5, 'héllo', [1, 'a', null], { a: { b: [] }, 'c"': 'd' }, []] as Json[]) {
      expect(checkJson(v, bounds)).toBe(Buffer.byteLength(JSON.stringify(v)) - (JSON.stringify(v).match(/\\/g)?.length ?? 0));
    }
  });

  it('refuses JSON nested 100,000 levels deep without overflowing the stack', () => {
    const e = limitError(() => checkJson(nested(100_000), { ...bounds, maxBytes: 10 * MIB }));
    expect(e.data).toEqual({ limit: 'MAX_JSON_DEPTH', max: 64, actual: 65 });
    expect(checkJson(nested(64), bounds)).toBeGreaterThan(0);
  });

  it('names the byte limit with the actual size', () => {
    const e = limitError(() => checkJson({ s: 'x'.repeat(2_000) }, bounds));
    expect(e.data).toEqual({ limit: 'MAX_INPUT_BYTES', max: 1_000, actual: 2_008 });
    expect(e.message).toContain('The run input is 2008 bytes');
  });

  it.each([
    ['a NUL character', { a: 'x\u0000y' }, '$.a'],
    ['a lone high surrogate', { a: ['\uD800'] }, '$.a[0]'],
    ['a lone low surrogate in a key', { '\uDC00': 1 }, '$'],
    ['a reserved __proto__ key', JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as Json, '$.a.__proto__'],
    ['NaN', { n: Number.NaN }, '$.n'],
  ])('refuses %s with BAD_USER_INPUT naming the path', (_name, value, path) => {
    try {
      checkJson(value, bounds);
      expect.unreachable();
    } catch (e: unknown) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).data['path']).toBe(path);
    }
  });

  it('accepts paired surrogates (emoji) and keys named constructor or prototype (own data)', () => {
    expect(() => checkJson({ constructor: '😀', prototype: 1 }, bounds)).not.toThrow();
  });

  it('jsonBytesUpTo stops soon after the budget', () => {
    const big = Array.from({ length: 100_000 }, () => 'abcdefgh');
    const small = Array.from({ length: 20 }, () => big);
    expect(jsonBytesUpTo(small, 2_000_000)).toBeGreaterThan(2_000_000);
    expect(jsonBytesUpTo(small, 2_000_000)).toBeLessThan(3_000_000);
    expect(jsonBytesUpTo(big, Infinity)).toBe(JSON.stringify(big).length);
  });

  it('checkWellFormed refuses lone surrogates so two different keys cannot collapse into one', () => {
    expect(() => checkWellFormed('idempotencyKey', 'order-\uD800')).toThrow(ValidationError);
    expect(() => checkWellFormed('idempotencyKey', 'order-😀')).not.toThrow();
  });
});

describe('the JSON scalar', () => {
  it('parses literals iteratively into plain JSON, variables substituted', () => {
    const ast = parseValue('{ a: [1, 2.5, "x", null, true, $v], b: { c: $missing } }');
    expect(JSON.parse(JSON.stringify(JSONScalar.parseLiteral(ast, { v: { w: 1 } })))).toEqual({ a: [1, 2.5, 'x', null, true, { w: 1 }], b: { c: null } });
  });

  it('refuses literals and values nested past the hard bound, and unstorable ones', () => {
    const deep = `${'['.repeat(HARD_MAX_JSON_DEPTH + 1)}1${']'.repeat(HARD_MAX_JSON_DEPTH + 1)}`;
    expect(() => JSONScalar.parseLiteral(parseValue(deep), {})).toThrow(LimitExceededError);
    expect(() => JSONScalar.parseValue(nested(HARD_MAX_JSON_DEPTH + 1))).toThrow(LimitExceededError);
    expect(() => JSONScalar.parseValue(nested(HARD_MAX_JSON_DEPTH))).not.toThrow();
    expect(() => JSONScalar.parseValue({ a: 'x\u0000' })).toThrow(ValidationError);
    expect(() => JSONScalar.parseLiteral(parseValue('{ __proto__: 1 }'), {})).toThrow(ValidationError);
  });
});
