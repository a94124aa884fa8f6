import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors';
import { checkInput, compileInputSchema, inputViolations, MAX_LISTED_VIOLATIONS, UNIQUE_ITEMS_MAX_PAIRWISE } from '../../src/domain/input-schema';

/** Input contracts, the pure part: compiling tenant schemas safely and naming each broken rule. */
describe('input schemas', () => {
  it('runs patterns on RE2: a pattern that backtracks catastrophically in JavaScript stays linear', () => {
    const validate = compileInputSchema({ type: 'string', pattern: '^(a+)+$' });
    const evil = `${'a'.repeat(50_000)}!`;
    const started = performance.now();
    expect(inputViolations(validate, evil)).toEqual([{ path: '', rule: 'pattern', message: 'must match pattern "^(a+)+$"' }]);
    const ms = performance.now() - started;
    // JavaScript's RegExp needs ~2^n steps here (it would not finish); RE2 takes a few hundred ms at most.
    console.log(`RE2 refused a 50,001-character input to ^(a+)+$ in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(5_000);
    expect(inputViolations(validate, 'aaaa')).toEqual([]);
  });

  it('keeps each pattern its own (ajv caches patterns by their text)', () => {
    const lower = compileInputSchema({ type: 'string', pattern: '^[a-z]+$' });
    const digits = compileInputSchema({ type: 'string', pattern: '^[0-9]+$' });
    expect(inputViolations(lower, 'abc')).toEqual([]);
    expect(inputViolations(lower, '123')).toHaveLength(1);
    expect(inputViolations(digits, '123')).toEqual([]);
    expect(inputViolations(digits, 'abc')).toHaveLength(1);
  });

  it('compiles the same $id again (each schema leaves the shared instance after compiling)', () => {
    const a = compileInputSchema({ $id: 'urn:example:same', type: 'string' });
    const b = compileInputSchema({ $id: 'urn:example:same', type: 'number' });
    expect(inputViolations(a, 'x')).toEqual([]);
    expect(inputViolations(b, 1)).toEqual([]);
    // Nor does a later schema resolve a $ref to it.
    expect(() => compileInputSchema({ $ref: 'urn:example:same' })).toThrow(ValidationError);
  });

  it('keeps compiled validators working across instance recycling (600 schemas)', () => {
    const first = compileInputSchema({ type: 'integer', minimum: 5 });
    for (let i = 0; i < 600; i++) compileInputSchema({ type: 'string', pattern: `^p${i}$` });
    expect(inputViolations(first, 7)).toEqual([]);
    expect(inputViolations(first, 3)).toEqual([{ path: '', rule: 'minimum', message: 'must be >= 5' }]);
  });

  it('points at a missing or extra property, escaping JSON Pointer characters', () => {
    const validate = compileInputSchema({ type: 'object', required: ['a/b'], properties: { 'a/b': {} }, additionalProperties: false });
    expect(inputViolations(validate, { 'x~y': 1 })).toEqual([
      { path: '/a~1b', rule: 'required', message: "must have required property 'a/b'" },
      { path: '/x~0y', rule: 'additionalProperties', message: 'must NOT have additional properties' },
    ]);
  });

  it(`lists at most ${MAX_LISTED_VIOLATIONS} violations and says there were more`, () => {
    const validate = compileInputSchema({ type: 'array', items: { type: 'string' } });
    let caught: unknown;
    try {
      checkInput(
        'many',
        validate,
        Array.from({ length: 80 }, (_, i) => i),
      );
    } catch (e: unknown) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const data = (caught as ValidationError).data;
    expect(data['errors']).toHaveLength(MAX_LISTED_VIOLATIONS);
    expect(data['truncated']).toBe(true);
    expect((caught as ValidationError).message).toMatch(/\/0 must be string \(and 79 more/);
  });

  it.each([
    ['items that may be anything', { type: 'array', uniqueItems: true }],
    ['object items', { type: 'object', properties: { l: { type: 'array', items: { type: 'object' }, uniqueItems: true } } }],
    ['prefixItems only', { type: 'array', prefixItems: [{ type: 'integer' }], uniqueItems: true }],
    ['a maxItems too large', { type: 'array', uniqueItems: true, maxItems: UNIQUE_ITEMS_MAX_PAIRWISE + 1 }],
  ])('refuses uniqueItems over %s: ajv would compare every pair (20,000 items: 9 s of event loop)', (_name, schema) => {
    expect(() => compileInputSchema(schema)).toThrow(/"uniqueItems" needs "items" of a scalar "type" .* or "maxItems" of at most 1000/);
  });

  it('accepts uniqueItems over scalar items (compared through a map) or a bounded array, and checks it quickly', () => {
    const scalar = compileInputSchema({ type: 'array', items: { type: ['string', 'integer'] }, uniqueItems: true });
    const many = Array.from({ length: 300_000 }, (_, i) => ({ a: [i] }));
    const started = performance.now();
    expect(inputViolations(scalar, many).length).toBeGreaterThan(0);
    expect(inputViolations(scalar, [1, 2, 2]).map((v) => v.rule)).toEqual(['uniqueItems']);
    expect(performance.now() - started).toBeLessThan(3_000);
    const bounded = compileInputSchema({ type: 'array', uniqueItems: true, maxItems: UNIQUE_ITEMS_MAX_PAIRWISE });
    expect(inputViolations(bounded, [{ a: 1 }, { a: 1 }]).map((v) => v.rule)).toEqual(['uniqueItems']);
  });
});
