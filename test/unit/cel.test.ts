import { describe, expect, it } from 'vitest';
import type { CelCompileOptions } from '../../src/domain/cel';
import { CelCompileError, CelEvaluationError, MAX_CEL_COST, MAX_CEL_EXPRESSION_LENGTH, compileExpression, referencedSteps } from '../../src/domain/cel';
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

describe('evaluation cost is bounded before an expression runs (a hostile condition cannot hold the event loop)', () => {
  // Before the bound each of these ran to its end, holding the event loop: measured 1.7 s for the
  // chain, 368 s for a concatenation per item over 100,000 items, 4.4 s for the doublings, 148 s
  // for the pattern below. Each grows with the square of the input (or faster): over 1 MB inputs,
  // hours on every replica that took the transition up.
  const zeros = (n: number) => Array.from({ length: n }, () => 0);
  const timed = (fn: () => unknown): { ms: number; error: unknown } => {
    const started = performance.now();
    try {
      fn();
      return { ms: performance.now() - started, error: null };
    } catch (e: unknown) {
      return { ms: performance.now() - started, error: e };
    }
  };

  it.each<[string, string, Record<string, Json>]>([
    ['a long chain of list concatenations', `size(${Array.from({ length: 60 }, () => 'input.l').join(' + ')}) > 0`, { l: zeros(50_000) }],
    ['a scan of a large list for each of its items', 'input.l.filter(x, x in input.other).size() > 0', { l: zeros(20_000), other: zeros(20_000).map(() => 1) }],
    ['a concatenation for each item', 'input.l.exists(x, size(input.l + input.l) == 0)', { l: zeros(20_000) }],
    ['a long separator between many items', 'input.l.map(x, "a").join(input.s).size() > 0', { l: zeros(100_000), s: 'y'.repeat(10_000) }],
    [
      'doublings through cel.bind',
      `cel.bind(a, input.l + input.l, cel.bind(b, a + a, cel.bind(c, b + b, cel.bind(d, c + c, size(d + d) > 0))))`,
      { l: zeros(1_000_000) },
    ],
  ])('refuses %s with EXPRESSION_TOO_COSTLY, at once', (_name, source, input) => {
    const { ms, error } = timed(() => compileExpression(source, { expect: 'bool', variables: ['input'], where: 'steps[1].when' }).evaluate({ input }));
    expect(error).toBeInstanceOf(CelEvaluationError);
    expect((error as CelEvaluationError).data).toMatchObject({ reason: 'EXPRESSION_TOO_COSTLY', where: 'steps[1].when', max: MAX_CEL_COST });
    expect((error as CelEvaluationError).message).toMatch(/^steps\[1\]\.when could cost .* \(MAX_CEL_COST\)/);
    expect(ms).toBeLessThan(2_000);
  });

  it('counts the result too: a list of references to the input is refused before it is converted to JSON', () => {
    // Before: 30,000 references to a list of 30,000 (a 60 KB input) ran the process out of memory.
    const { ms, error } = timed(() =>
      compileExpression('input.l.map(x, input.l)', { expect: 'list', variables: ['input'] }).evaluate({ input: { l: zeros(30_000) } }),
    );
    expect((error as CelEvaluationError).data).toMatchObject({ reason: 'EXPRESSION_TOO_COSTLY' });
    expect(ms).toBeLessThan(2_000);
  });

  it('runs what is linear in its input, over large inputs too', () => {
    const items = Array.from({ length: 20_000 }, (_, i) => ({ id: i, status: i % 2 ? 'ok' : 'failed', name: `item-${i}` }));
    const listed = compileExpression('input.items.filter(i, i.status == "ok").map(i, i.name + ":" + string(i.id))', { variables: ['input'] }).evaluate({
      input: { items },
    });
    expect(listed).toHaveLength(10_000);
    expect(
      compileExpression('input.l.map(x, x in input.small)', { variables: ['input'] }).evaluate({ input: { l: zeros(100_000), small: [0, 1] } }),
    ).toHaveLength(100_000);
    expect(compileExpression('input.s.contains("needle")', { variables: ['input'] }).evaluate({ input: { s: `${'hay'.repeat(300_000)}needle` } })).toBe(true);
    expect(compileExpression('size(input.a + input.b) == 4', { variables: ['input'] }).evaluate({ input: { a: [1, 2], b: [3, 4] } })).toBe(true);
  });

  it('matches: a backtracking pattern answers at once (the linear engine takes over)', () => {
    // Before: 2.9 s for 26 characters, doubling with each more; 40 would take hours.
    const c = compileExpression('input.s.matches("^(a+)+$")', { expect: 'bool', variables: ['input'] });
    const { ms, error } = timed(() => expect(c.evaluate({ input: { s: `${'a'.repeat(40)}b` } })).toBe(false));
    expect(error).toBeNull();
    expect(ms).toBeLessThan(500);
    expect(c.evaluate({ input: { s: 'aaaa' } })).toBe(true);
  });

  it.each([
    ['input.s.matches(input.pattern)', /not a string literal/],
    ['input.s.matches("(a+)\\\\1")', /needs backtracking/],
    ['input.s.matches("(?=a)a")', /needs backtracking/],
  ])('refuses %s at registration (a pattern must be a literal the linear engine runs)', (source, message) => {
    const e = thrown(() => compileExpression(source, { expect: 'bool', variables: ['input'] }), CelCompileError);
    expect(e.data).toMatchObject({ reason: 'EXPRESSION_TOO_COMPLEX' });
    expect(e.message).toMatch(message);
  });
});
