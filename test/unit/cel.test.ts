import { describe, expect, it } from 'vitest';
import type { CelCompileOptions } from '../../src/domain/cel';
import { CelCompileError, CelEvaluationError, MAX_CEL_EXPRESSION_LENGTH, compileExpression, referencedSteps } from '../../src/domain/cel';
import { ValidationError } from '../../src/domain/errors';
import type { Json } from '../../src/domain/glossary';

const scope: Record<string, Json> = {
  input: { n: 5, ratio: 2.5, items: [1, 2, 3], name: 'ada', flags: { on: true }, nothing: null },
  steps: { fetch: { output: { status: 200, ok: true, rows: [{ id: 'a' }, { id: 'b' }] } }, skipped: { output: null } },
};

function thrown<T>(fn: () => unknown, type: new (...args: never[]) => T): T {
  try {
    fn();
  } catch (e: unknown) {
    expect(e).toBeInstanceOf(type);
    return e as T;
  }
  throw new Error('expected a throw');
}

describe('compileExpression: evaluation and JSON conversion', () => {
  it.each<[string, Json]>([
    ['input.n > 3', true],
    ['input.n == 5', true],
    ['input.n == 5.0', true],
    ['input.ratio > 2', true],
    ['input.n * 2', 10],
    ['input.n + 1', 6],
    ['input.items.map(i, i * 2)', [2, 4, 6]],
    ['input.items.filter(i, i > 1)', [2, 3]],
    ['input.items.exists(i, i == 3)', true],
    ['size(input.items)', 3],
    ['input.ratio * 2.0', 5],
    ['double(input.n) * 1.5', 7.5],
    ['input.name + "!"', 'ada!'],
    ['input.flags.on && steps.fetch.output.ok', true],
    ['steps.fetch.output.status == 200', true],
    ['steps.fetch.output.rows.map(r, r.id)', ['a', 'b']],
    ['steps.skipped.output == null', true],
    ['has(input.missing)', false],
    ['has(input.flags.on)', true],
    ['input.nothing', null],
    ['{"a": 1, "b": [1.5, true, "x"]}', { a: 1, b: [1.5, true, 'x'] }],
    ['timestamp("2024-01-01T00:00:00Z")', '2024-01-01T00:00:00.000Z'],
    ['duration("1500ms")', '1.5s'],
    ['1u + 2u', 3],
    ['steps["fetch"].output.ok', true],
  ])('%s → %j', (source, expected) => {
    expect(compileExpression(source).evaluate(scope)).toEqual(expected);
  });

  it('results are plain JSON (no BigInt)', () => {
    const out = compileExpression('[1, 2, input.n]').evaluate(scope);
    expect(JSON.stringify(out)).toBe('[1,2,5]');
  });

  it('a variable missing from the scope reads as null', () => {
    expect(compileExpression('input == null').evaluate({})).toBe(true);
  });

  it('is cached: the same source compiles once', () => {
    const a = compileExpression('input.n > 1', { where: 'a' });
    const b = compileExpression('input.n > 1', { where: 'b' });
    expect(a.evaluate(scope)).toBe(true);
    expect(b.evaluate(scope)).toBe(true);
    expect(a.stepRefs).toBe(b.stepRefs);
  });
});

describe('compileExpression: references', () => {
  it.each<[string, string[]]>([
    ['input.n > 1', []],
    ['steps.a.output.x > 1 && steps.b.output.ok', ['a', 'b']],
    ['steps["with-dash"].output == null', ['with-dash']],
    ['has(steps.c.output.x)', ['c']],
    ['input.items.map(i, steps.z.output)', ['z']],
    ['steps.b.output == null || steps.a.output.ok', ['a', 'b']],
  ])('%s reads %j', (source, refs) => {
    expect(referencedSteps(source)).toEqual(refs);
  });

  it.each(['steps', 'steps[input.key].output', 'size(steps) > 0'])('refuses %s (steps must be read by key)', (source) => {
    const e = thrown(() => compileExpression(source, { where: 'steps[1].when' }), CelCompileError);
    expect(e.data).toMatchObject({ reason: 'EXPRESSION_STEPS_ACCESS', where: 'steps[1].when' });
    expect(e.message).toMatch(/steps\.<key>/);
  });

  it('lists the variables it reads', () => {
    expect(compileExpression('input.n > 1 && steps.a.output').variables).toEqual(['input', 'steps']);
  });
});

describe('compileExpression: registration errors carry an offset', () => {
  const opts: CelCompileOptions = { expect: 'bool', where: 'steps[2].when' };
  it.each<[string, string, number]>([
    ['input.n >', 'EXPRESSION_SYNTAX', 9],
    ['input.n > > 1', 'EXPRESSION_SYNTAX', 10],
    ['foo > 1', 'EXPRESSION_TYPE', 0],
    ['1 + "a"', 'EXPRESSION_TYPE', 0],
    ['"yes"', 'EXPRESSION_RESULT_TYPE', 0],
    ['input.n + 1', 'EXPRESSION_RESULT_TYPE', 0],
    ['   ', 'EXPRESSION_SYNTAX', 0],
    ['input.items.map(a, input.items.map(b, a)) == []', 'EXPRESSION_TOO_COMPLEX', 19],
  ])('%s → %s at %i', (source, reason, offset) => {
    const e = thrown(() => compileExpression(source, opts), CelCompileError);
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.code).toBe('BAD_USER_INPUT');
    expect(e.data).toMatchObject({ reason, offset, where: 'steps[2].when' });
    expect(e.message).toContain('steps[2].when');
    expect(e.message).not.toContain('\n');
  });

  it('a dyn result is accepted for bool and checked at evaluation', () => {
    const c = compileExpression('input.name', { expect: 'bool', where: 'steps[0].when' });
    expect(c.resultType).toBe('dyn');
    const e = thrown(() => c.evaluate(scope), CelEvaluationError);
    expect(e.message).toBe('steps[0].when must yield a bool; it yielded the string "ada"');
  });

  it('expect list', () => {
    expect(compileExpression('input.items', { expect: 'list' }).evaluate(scope)).toEqual([1, 2, 3]);
    expect(thrown(() => compileExpression('1 == 1', { expect: 'list' }), CelCompileError).data.reason).toBe('EXPRESSION_RESULT_TYPE');
    expect(() => compileExpression('input.n', { expect: 'list' }).evaluate(scope)).toThrow(/must yield a list; it yielded the int 5/);
  });

  it(`refuses more than ${MAX_CEL_EXPRESSION_LENGTH} characters before parsing`, () => {
    const source = `input.n == ${'1'.padEnd(MAX_CEL_EXPRESSION_LENGTH, '0')}`;
    expect(thrown(() => compileExpression(source), CelCompileError).data.reason).toBe('EXPRESSION_TOO_LONG');
  });

  it('refuses too many syntax nodes', () => {
    const source = Array.from({ length: 1200 }, () => '1').join('+') + ' > 0';
    expect(source.length).toBeLessThan(MAX_CEL_EXPRESSION_LENGTH);
    const e = thrown(() => compileExpression(source), CelCompileError);
    expect(e.data.reason, e.message).toBe('EXPRESSION_TOO_COMPLEX');
  });
});

describe('evaluate: run-time errors name the place and the fragment', () => {
  it('missing key', () => {
    const c = compileExpression('steps.fetch.output.missing > 1', { where: 'the condition of step "b" (steps[1].when)' });
    const e = thrown(() => c.evaluate(scope), CelEvaluationError);
    expect(e.code).toBe('BAD_USER_INPUT');
    expect(e.message).toMatch(/^the condition of step "b" \(steps\[1\]\.when\) failed at offset \d+ \(`steps\.fetch\.output\.missing`\): No such key: missing/);
    expect(e.message).toContain('has(');
    expect(e.data).toMatchObject({ reason: 'EXPRESSION_EVALUATION', fragment: 'steps.fetch.output.missing' });
  });

  it('a skipped dependency (null output) read as an object', () => {
    const e = thrown(() => compileExpression('steps.skipped.output.x == 1').evaluate(scope, 'steps[3].when'), CelEvaluationError);
    expect(e.message).toMatch(/^steps\[3\]\.when failed/);
  });

  it('division by zero, integer overflow of JSON', () => {
    expect(() => compileExpression('input.n / 0').evaluate(scope)).toThrow(/division by zero/);
    expect(() => compileExpression('9007199254740993').evaluate(scope)).toThrow(/beyond what JSON numbers hold/);
    expect(() => compileExpression('b"x"').evaluate(scope)).toThrow(/bytes, which has no JSON form/);
  });
});
