import { describe, expect, it } from 'vitest';
import { BUILT_IN_TYPES, MAX_STEPS, definitionHash, normalizeDefinition, validateDefinition } from '../../src/domain/dag';
import { canonicalJson } from '../../src/domain/json';
import { ancestors, leaves, roots, topologicalOrder } from '../../src/domain/step-order';
import { LimitExceededError, ValidationError } from '../../src/domain/errors';
import type { Json, StepDraft, WorkflowDefinition, WorkflowDraft } from '../../src/domain/glossary';
import { DEFAULT_RETRY } from '../../src/domain/glossary';

const step = (key: string, extra: Partial<StepDraft> = {}): StepDraft => ({ key, type: 'noop', ...extra });
const after = (key: string, ...dependsOn: string[]): StepDraft => step(key, { dependsOn });
const draft = (steps: StepDraft[], name = 'wf'): WorkflowDraft => ({ name, steps });
const def = (steps: StepDraft[]): WorkflowDefinition => normalizeDefinition(draft(steps)).definition;

/** The ValidationError `fn` throws; fails the test if it throws nothing or something else. */
function rejection(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e: unknown) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

describe('BUILT_IN_TYPES', () => {
  it('lists the executors the conductor runs itself', () => {
    expect(BUILT_IN_TYPES).toEqual(['noop', 'sleep', 'http', 'signal']);
  });
});

describe('normalizeDefinition', () => {
  it('fills every default', () => {
    expect(normalizeDefinition(draft([step('a')]))).toEqual({
      name: 'wf',
      definition: {
        description: null,
        timeoutMs: null,
        steps: [{ key: 'a', type: 'noop', queue: null, dependsOn: [], input: {}, retry: DEFAULT_RETRY, timeoutMs: null }],
      },
    });
  });

  it.each([
    { given: undefined, expected: {} },
    { given: null, expected: null },
    { given: { url: 'x' }, expected: { url: 'x' } },
    { given: 'text', expected: 'text' },
  ])('input $given becomes $expected', ({ given, expected }) => {
    const s: StepDraft = given === undefined ? step('a') : step('a', { input: given });
    expect(def([s]).steps[0].input).toEqual(expected);
  });

  it('copies the input rather than aliasing the caller object', () => {
    const input = { nested: { n: 1 } };
    const d = def([step('a', { input })]);
    input.nested.n = 2;
    expect(d.steps[0].input).toEqual({ nested: { n: 1 } });
  });

  it.each([
    { retry: undefined, expected: DEFAULT_RETRY },
    { retry: null, expected: DEFAULT_RETRY },
    { retry: { maxAttempts: 5 }, expected: { ...DEFAULT_RETRY, maxAttempts: 5 } },
    {
      retry: { maxAttempts: 3, initialDelayMs: 0, backoffFactor: 1, maxDelayMs: 0 },
      expected: { maxAttempts: 3, initialDelayMs: 0, backoffFactor: 1, maxDelayMs: 0, maxFaults: 10 },
    },
    // GraphQL sends null for a field left out; unknown fields must not reach the hash.
    { retry: { maxAttempts: null, bogus: 1 } as never, expected: DEFAULT_RETRY },
  ])('merges retry $retry over the defaults', ({ retry, expected }) => {
    expect(def([step('a', { retry })]).steps[0].retry).toEqual(expected);
  });

  it('de-duplicates and sorts dependsOn by code unit', () => {
    const d = def([step('b'), step('a'), step('Z'), after('c', 'b', 'a', 'b', 'Z')]);
    expect(d.steps[3].dependsOn).toEqual(['Z', 'a', 'b']);
  });

  it('keeps description, queue and timeout', () => {
    const d = normalizeDefinition({
      name: 'wf',
      description: 'does things',
      steps: [step('a', { type: 'charge-card', queue: 'payments', timeoutMs: 5000 })],
    }).definition;
    expect(d.description).toBe('does things');
    expect(d.steps[0]).toMatchObject({ type: 'charge-card', queue: 'payments', timeoutMs: 5000 });
  });

  it('trims nothing: a name with a trailing space is rejected', () => {
    expect(rejection(() => normalizeDefinition(draft([step('a')], 'wf '))).data.reason).toBe('INVALID_NAME');
  });
});

describe('validateDefinition', () => {
  const tooMany = Array.from({ length: MAX_STEPS + 1 }, (_, i) => step(`s${i}`));
  const maxSteps = Array.from({ length: MAX_STEPS }, (_, i) => step(`s${i}`));

  it('refuses more steps than allowed with LIMIT_EXCEEDED naming MAX_STEPS_PER_WORKFLOW', () => {
    const refused = (fn: () => unknown): LimitExceededError => {
      try {
        fn();
      } catch (e: unknown) {
        expect(e).toBeInstanceOf(LimitExceededError);
        return e as LimitExceededError;
      }
      throw new Error('expected LIMIT_EXCEEDED');
    };
    const e = refused(() => normalizeDefinition(draft(tooMany)));
    expect(e.data).toEqual({ limit: 'MAX_STEPS_PER_WORKFLOW', max: 1000, actual: 1001, reason: 'TOO_MANY_STEPS' });
    expect(e.message).toContain('has 1001 steps; the limit is 1000');
    const configured = refused(() => normalizeDefinition(draft(maxSteps.slice(0, 257)), { maxSteps: 256 }));
    expect(configured.data).toMatchObject({ max: 256, actual: 257 });
    expect(() => normalizeDefinition(draft(maxSteps.slice(0, 256)), { maxSteps: 256 })).not.toThrow();
  });

  it.each<{ name: string; steps: StepDraft[] }>([
    { name: 'a single step', steps: [step('a')] },
    { name: `${MAX_STEPS} steps`, steps: maxSteps },
    {
      name: 'every built-in type',
      // Literal inputs of built-ins are checked at registration (step-checks.ts): each gets a valid one.
      steps: BUILT_IN_TYPES.map((type) =>
        step(`s_${type}`, { type, input: { noop: {}, sleep: { ms: 1 }, http: { url: 'http://127.0.0.1:1/' }, signal: { name: 'go' } }[type] }),
      ),
    },
    { name: 'any type with a queue', steps: [step('a', { type: 'Anything at all: 🎉', queue: 'q.x:y-z_1' })] },
    { name: 'a diamond', steps: [step('a'), after('b', 'a'), after('c', 'a'), after('d', 'b', 'c')] },
    { name: 'dependencies declared later', steps: [after('b', 'a'), step('a')] },
    { name: 'longest names', steps: [step(`_${'k'.repeat(63)}`)] },
    {
      name: 'templates reading the input and direct dependencies',
      steps: [step('a'), after('b', 'a'), step('c', { dependsOn: ['b'], input: { x: '{{ steps.b.output.x }}', y: '{{ input }}' } })],
    },
    {
      name: 'templates reading a transitive ancestor',
      steps: [step('a'), after('b', 'a'), step('c', { dependsOn: ['b'], input: ['{{ steps.a.output.items[0] }}'] })],
    },
    {
      name: 'retry at its bounds',
      steps: [step('a', { retry: { maxAttempts: 100, initialDelayMs: 0, backoffFactor: 1, maxDelayMs: 604_800_000, maxFaults: 1000 } })],
    },
    { name: 'no fault tolerated', steps: [step('a', { retry: { maxFaults: 0 } })] },
    { name: 'timeout at its bounds', steps: [step('a', { timeoutMs: 1 }), step('b', { timeoutMs: 604_800_000 })] },
  ])('accepts $name', ({ steps }) => {
    expect(() => normalizeDefinition(draft(steps, `W.${'x'.repeat(126)}`))).not.toThrow();
  });

  it.each<{ case: string; name?: string; steps: StepDraft[]; data: Record<string, unknown>; message: string }>([
    { case: 'no steps', steps: [], data: { reason: 'EMPTY_WORKFLOW' }, message: 'Workflow "wf" has no steps; declare at least one step' },
    {
      case: 'name starting with a digit',
      name: '1wf',
      steps: [step('a')],
      data: { reason: 'INVALID_NAME', name: '1wf' },
      message: 'Workflow name "1wf" is invalid',
    },
    { case: 'empty name', name: '', steps: [step('a')], data: { reason: 'INVALID_NAME' }, message: 'starting with a letter' },
    { case: 'name too long', name: `w${'x'.repeat(128)}`, steps: [step('a')], data: { reason: 'INVALID_NAME' }, message: '1 to 128' },
    { case: 'name with a space', name: 'my wf', steps: [step('a')], data: { reason: 'INVALID_NAME' }, message: '"my wf"' },
    { case: 'key with a dot', steps: [step('a.b')], data: { reason: 'INVALID_KEY', step: 'a.b', index: 0 }, message: 'steps[0] has invalid key "a.b"' },
    {
      case: 'key starting with a digit',
      steps: [step('a'), step('1a')],
      data: { reason: 'INVALID_KEY', step: '1a', index: 1 },
      message: 'starting with a letter or "_"',
    },
    { case: 'empty key', steps: [step('')], data: { reason: 'INVALID_KEY', step: '' }, message: 'invalid key ""' },
    // Issue 11, finding 12: "__proto__" matched the key pattern and could never be referenced.
    ...['__proto__', 'constructor', 'prototype'].map((key) => ({
      case: `reserved key ${key}`,
      steps: [step('a'), step(key)],
      data: { reason: 'INVALID_KEY', step: key, index: 1 },
      message: `steps[1] has the reserved key "${key}"`,
    })),
    { case: 'key too long', steps: [step(`k${'x'.repeat(64)}`)], data: { reason: 'INVALID_KEY' }, message: '1 to 64' },
    {
      case: 'duplicate key',
      steps: [step('a'), step('b'), step('a')],
      data: { reason: 'DUPLICATE_KEY', step: 'a', indexes: [0, 2] },
      message: 'declares step "a" twice (steps[0] and steps[2]); step keys must be unique',
    },
    {
      case: 'self dependency',
      steps: [step('a'), after('b', 'a', 'b')],
      data: { reason: 'SELF_DEPENDENCY', step: 'b', path: ['b', 'b'] },
      message: 'step "b" depends on itself; remove "b" from its dependsOn',
    },
    {
      case: 'unknown dependency',
      steps: [step('a'), after('b', 'a', 'zz')],
      data: { reason: 'UNKNOWN_DEPENDENCY', step: 'b', dependency: 'zz' },
      message: 'step "b" depends on "zz", which is not a step of this workflow; declared steps: a, b',
    },
    {
      case: 'unknown built-in type',
      steps: [step('a', { type: 'email' })],
      data: { reason: 'UNKNOWN_BUILT_IN_TYPE', step: 'a', type: 'email', builtInTypes: ['noop', 'sleep', 'http', 'signal', 'workflow'] },
      message:
        'step "a" has type "email", which is not built in (built-in types: noop, sleep, http, signal, workflow); to run it on remote workers, set "queue"',
    },
    {
      case: 'built-in type with different case',
      steps: [step('a', { type: 'HTTP' })],
      data: { reason: 'UNKNOWN_BUILT_IN_TYPE', type: 'HTTP' },
      message: '"HTTP"',
    },
    {
      case: 'empty type with a queue',
      steps: [step('a', { type: '', queue: 'q' })],
      data: { reason: 'INVALID_TYPE', step: 'a', type: '' },
      message: 'non-empty string of at most 128',
    },
    {
      case: 'type too long with a queue',
      steps: [step('a', { type: 't'.repeat(129), queue: 'q' })],
      data: { reason: 'INVALID_TYPE', step: 'a' },
      message: 'invalid type',
    },
    { case: 'empty queue', steps: [step('a', { queue: '' })], data: { reason: 'INVALID_QUEUE', step: 'a', queue: '' }, message: 'invalid queue ""' },
    {
      case: 'queue with a space',
      steps: [step('a', { queue: 'my queue' })],
      data: { reason: 'INVALID_QUEUE', queue: 'my queue' },
      message: 'letters, digits, "_", ".", ":" or "-"',
    },
    {
      case: 'zero attempts',
      steps: [step('a', { retry: { maxAttempts: 0 } })],
      data: { reason: 'INVALID_RETRY', step: 'a', field: 'maxAttempts', value: 0 },
      message: 'step "a" has retry.maxAttempts 0; use an integer from 1 to 100',
    },
    {
      case: '101 attempts',
      steps: [step('a', { retry: { maxAttempts: 101 } })],
      data: { reason: 'INVALID_RETRY', field: 'maxAttempts', value: 101 },
      message: '1 to 100',
    },
    {
      case: 'fractional attempts',
      steps: [step('a', { retry: { maxAttempts: 2.5 } })],
      data: { reason: 'INVALID_RETRY', field: 'maxAttempts' },
      message: 'integer',
    },
    {
      case: 'negative initial delay',
      steps: [step('a', { retry: { initialDelayMs: -1 } })],
      data: { reason: 'INVALID_RETRY', field: 'initialDelayMs', value: -1 },
      message: 'retry.initialDelayMs -1',
    },
    {
      case: 'backoff factor below 1',
      steps: [step('a', { retry: { backoffFactor: 0.5 } })],
      data: { reason: 'INVALID_RETRY', field: 'backoffFactor', value: 0.5 },
      message: 'at least 1',
    },
    {
      case: 'infinite backoff factor',
      steps: [step('a', { retry: { backoffFactor: Infinity } })],
      data: { reason: 'INVALID_RETRY', field: 'backoffFactor' },
      message: 'at least 1',
    },
    {
      case: 'max delay below initial',
      steps: [step('a', { retry: { initialDelayMs: 5000, maxDelayMs: 1000 } })],
      data: { reason: 'INVALID_RETRY', field: 'maxDelayMs', value: 1000 },
      message: 'from retry.initialDelayMs (5000)',
    },
    {
      case: 'max delay over 7 days',
      steps: [step('a', { retry: { maxDelayMs: 604_800_001 } })],
      data: { reason: 'INVALID_RETRY', field: 'maxDelayMs' },
      message: '7 days',
    },
    {
      case: 'maxFaults above 1000',
      steps: [step('a', { retry: { maxFaults: 1001 } })],
      data: { reason: 'INVALID_RETRY', field: 'maxFaults', value: 1001 },
      message: 'from 0 to 1000',
    },
    {
      case: 'zero timeout',
      steps: [step('a', { timeoutMs: 0 })],
      data: { reason: 'INVALID_TIMEOUT', step: 'a', value: 0 },
      message: 'step "a" has timeoutMs 0; use null (no bound) or an integer from 1 to 604800000 (7 days)',
    },
    {
      case: 'timeout over 7 days',
      steps: [step('a', { timeoutMs: 604_800_001 })],
      data: { reason: 'INVALID_TIMEOUT', value: 604_800_001 },
      message: 'timeoutMs 604800001',
    },
    { case: 'fractional timeout', steps: [step('a', { timeoutMs: 1.5 })], data: { reason: 'INVALID_TIMEOUT' }, message: 'integer' },
    {
      case: 'malformed template',
      steps: [step('a', { input: { x: ['{{ input..a }}'] } })],
      data: { reason: 'INVALID_TEMPLATE', step: 'a', template: '{{ input..a }}' },
      message: 'the input of step "a" has an invalid template. Template "{{ input..a }}" is malformed',
    },
    { case: 'empty template', steps: [step('a', { input: '{{ }}' })], data: { reason: 'INVALID_TEMPLATE', template: '{{ }}' }, message: 'the path is empty' },
    {
      case: 'template with an unknown root',
      steps: [step('a', { input: '{{ env.HOME }}' })],
      data: { reason: 'INVALID_TEMPLATE', template: '{{ env.HOME }}' },
      message: 'unknown root "env"',
    },
    {
      case: 'template reading a sibling',
      steps: [step('a'), step('b'), step('c', { dependsOn: ['a'], input: '{{ steps.b.output }}' })],
      data: { reason: 'TEMPLATE_REFERENCES_NON_DEPENDENCY', step: 'c', template: '{{ steps.b.output }}', dependency: 'b' },
      message: 'the input of step "c" reads "{{ steps.b.output }}", but "b" is not a dependency of "c", direct or transitive; add it to dependsOn',
    },
    {
      case: 'template reading a descendant',
      steps: [step('a', { input: '{{ steps.b.output }}' }), after('b', 'a')],
      data: { reason: 'TEMPLATE_REFERENCES_NON_DEPENDENCY', step: 'a', dependency: 'b' },
      message: '"b" is not a dependency of "a"',
    },
    {
      case: 'template reading its own output',
      steps: [step('a', { input: 'x={{ steps.a.output }}' })],
      data: { reason: 'TEMPLATE_REFERENCES_NON_DEPENDENCY', dependency: 'a' },
      message: 'a step cannot read its own output',
    },
    {
      case: 'template reading a step that does not exist',
      steps: [step('a', { input: { deep: { er: '{{ steps.ghost.output.x }}' } } })],
      data: { reason: 'TEMPLATE_REFERENCES_NON_DEPENDENCY', dependency: 'ghost' },
      message: 'there is no step "ghost" in this workflow',
    },
  ])('rejects $case', ({ name = 'wf', steps, data, message }) => {
    const e = rejection(() => normalizeDefinition(draft(steps, name)));
    expect(e.code).toBe('BAD_USER_INPUT');
    expect(e.data).toMatchObject(data);
    expect(e.message).toContain(message);
  });

  it.each<{ case: string; steps: StepDraft[]; path: string[] }>([
    { case: 'two steps', steps: [after('a', 'b'), after('b', 'a')], path: ['a', 'b', 'a'] },
    { case: 'three steps', steps: [after('a', 'b'), after('b', 'c'), after('c', 'a')], path: ['a', 'b', 'c', 'a'] },
    {
      // The walk enters the cycle at "d" but the path starts at its earliest declared step, "c".
      case: 'a longer cycle behind a tail, rotated to its first declared step',
      steps: [step('root'), after('tail', 'root', 'd'), after('c', 'f'), after('d', 'e'), after('e', 'c'), after('f', 'd')],
      path: ['c', 'f', 'd', 'e', 'c'],
    },
    {
      case: 'a cycle among otherwise valid steps',
      steps: [step('a'), after('b', 'a'), after('x', 'b', 'z'), after('y', 'x'), after('z', 'y'), after('leaf', 'z')],
      path: ['x', 'z', 'y', 'x'],
    },
  ])('reports the cycle path along dependsOn: $case', ({ steps, path }) => {
    const e = rejection(() => normalizeDefinition(draft(steps, 'x')));
    expect(e.data).toEqual({ reason: 'CYCLE', path });
    expect(e.message).toBe(
      `Workflow "x" has a dependency cycle: ${path.join(' → ')} (each step depends on the next); ` + 'remove one of these dependsOn entries',
    );
  });

  it('reports a self-dependency as SELF_DEPENDENCY with a one-step cycle path', () => {
    const e = rejection(() => normalizeDefinition(draft([after('a', 'a')])));
    expect(e.data).toEqual({ reason: 'SELF_DEPENDENCY', step: 'a', path: ['a', 'a'] });
  });

  it.each<{ case: string; name?: string; steps: StepDraft[]; reason: string }>([
    { case: 'bad name before bad key', name: '-', steps: [step('.')], reason: 'INVALID_NAME' },
    { case: 'bad key before duplicate', steps: [step('a'), step('a'), step('.')], reason: 'INVALID_KEY' },
    { case: 'duplicate before unknown dependency', steps: [after('a', 'zz'), step('b'), step('b')], reason: 'DUPLICATE_KEY' },
    { case: 'unknown dependency before type', steps: [step('a', { type: 'nope' }), after('b', 'zz')], reason: 'UNKNOWN_DEPENDENCY' },
    { case: 'type before retry', steps: [step('a', { retry: { maxAttempts: 0 } }), step('b', { type: 'nope' })], reason: 'UNKNOWN_BUILT_IN_TYPE' },
    { case: 'retry before timeout of a later step', steps: [step('a', { timeoutMs: 0 }), step('b', { retry: { maxAttempts: 0 } })], reason: 'INVALID_TIMEOUT' },
    { case: 'retry before template', steps: [step('a', { input: '{{', retry: { maxAttempts: 0 } })], reason: 'INVALID_RETRY' },
    { case: 'template syntax before cycle', steps: [after('a', 'b'), step('b', { dependsOn: ['a'], input: '{{ x }}' })], reason: 'INVALID_TEMPLATE' },
    {
      case: 'cycle before template dependency',
      steps: [after('a', 'b'), step('b', { dependsOn: ['a'], input: '{{ steps.c.output }}' }), step('c')],
      reason: 'CYCLE',
    },
  ])('reports the first problem in a fixed order: $case', ({ name = 'wf', steps, reason }) => {
    expect(rejection(() => normalizeDefinition(draft(steps, name))).data.reason).toBe(reason);
  });

  it('can be called on its own with a name', () => {
    const d = def([step('a')]);
    expect(() => validateDefinition('ok', d)).not.toThrow();
    expect(rejection(() => validateDefinition('not ok', d)).data).toEqual({ reason: 'INVALID_NAME', name: 'not ok' });
  });
});

describe('topologicalOrder, roots, leaves, ancestors', () => {
  const diamond = def([step('a'), after('b', 'a'), after('c', 'a'), after('d', 'c', 'b')]);
  const fanWidth = 50;
  const fan = def([
    step('start'),
    ...Array.from({ length: fanWidth }, (_, i) => after(`w${String(i).padStart(2, '0')}`, 'start')),
    after('end', ...Array.from({ length: fanWidth }, (_, i) => `w${String(i).padStart(2, '0')}`)),
  ]);
  const fanMiddle = Array.from({ length: fanWidth }, (_, i) => `w${String(i).padStart(2, '0')}`);

  it.each<{ case: string; definition: WorkflowDefinition; order: string[]; roots: string[]; leaves: string[] }>([
    { case: 'single step', definition: def([step('a')]), order: ['a'], roots: ['a'], leaves: ['a'] },
    { case: 'diamond', definition: diamond, order: ['a', 'b', 'c', 'd'], roots: ['a'], leaves: ['d'] },
    { case: 'chain declared backwards', definition: def([after('c', 'b'), after('b', 'a'), step('a')]), order: ['a', 'b', 'c'], roots: ['a'], leaves: ['c'] },
    {
      case: 'independent steps keep declaration order',
      definition: def([step('z'), step('m'), step('a')]),
      order: ['z', 'm', 'a'],
      roots: ['z', 'm', 'a'],
      leaves: ['z', 'm', 'a'],
    },
    {
      // Earliest declared ready step first: "x" (declared 1st) as soon as "y" is done.
      case: 'ties broken by declaration order, not by readiness time',
      definition: def([after('x', 'y'), step('y'), step('z')]),
      order: ['y', 'x', 'z'],
      roots: ['y', 'z'],
      leaves: ['x', 'z'],
    },
    { case: `${fanWidth}-step fan-out/fan-in`, definition: fan, order: ['start', ...fanMiddle, 'end'], roots: ['start'], leaves: ['end'] },
  ])('$case', ({ definition, order, roots: r, leaves: l }) => {
    expect(topologicalOrder(definition)).toEqual(order);
    expect(roots(definition)).toEqual(r);
    expect(leaves(definition)).toEqual(l);
  });

  it('orders every step after all of its dependencies in a random-ish large DAG', () => {
    // Deterministic pseudo-random edges to earlier-declared steps, then shuffled declaration.
    let seed = 42;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const keys = Array.from({ length: 300 }, (_, i) => `s${i}`);
    const steps = keys.map((k, i) => after(k, ...keys.slice(0, i).filter(() => next() < 0.02)));
    const shuffled = [...steps].sort(() => next() - 0.5);
    const d = def(shuffled);
    const order = topologicalOrder(d);
    const position = new Map(order.map((k, i) => [k, i]));
    expect(order).toHaveLength(300);
    for (const s of d.steps) for (const dep of s.dependsOn) expect(position.get(dep)).toBeLessThan(position.get(s.key)!);
  });

  it('throws CYCLE on a definition that skipped validation', () => {
    const cyclic: WorkflowDefinition = {
      description: null,
      timeoutMs: null,
      steps: [
        { key: 'a', type: 'noop', queue: null, dependsOn: ['b'], input: {}, retry: DEFAULT_RETRY, timeoutMs: null },
        { key: 'b', type: 'noop', queue: null, dependsOn: ['a'], input: {}, retry: DEFAULT_RETRY, timeoutMs: null },
      ],
    };
    expect(rejection(() => topologicalOrder(cyclic)).data).toEqual({ reason: 'CYCLE', path: ['a', 'b', 'a'] });
  });

  it.each([
    { key: 'a', expected: [] },
    { key: 'd', expected: ['a', 'b', 'c'] },
    { key: 'b', expected: ['a'] },
  ])('ancestors of $key in the diamond are $expected', ({ key, expected }) => {
    expect(ancestors(diamond, key)).toEqual(expected);
  });

  it('ancestors of an unknown key throws', () => {
    expect(rejection(() => ancestors(diamond, 'nope')).data.reason).toBe('UNKNOWN_DEPENDENCY');
  });

  it('validates a dense 1000-step DAG with templates quickly', () => {
    // ~500k edges: the ancestor bitsets keep this well under a second.
    const keys = Array.from({ length: MAX_STEPS }, (_, i) => `s${i}`);
    const steps = keys.map((k, i) => step(k, { dependsOn: keys.slice(0, i), input: i > 0 ? '{{ steps.s0.output }}' : {} }));
    const started = performance.now();
    expect(() => normalizeDefinition(draft(steps))).not.toThrow();
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('definitionHash', () => {
  const base = def([step('a', { input: { url: 'https://x', headers: { b: 1, a: 2 } } }), after('b', 'a')]);

  it('is a sha256 hex digest', () => {
    expect(definitionHash(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores key order at every depth, as from differently ordered JSON', () => {
    const reordered = JSON.parse(
      '{"steps":[{"timeoutMs":null,"retry":{"maxFaults":10,"maxDelayMs":60000,"backoffFactor":2,"initialDelayMs":1000,"maxAttempts":3},' +
        '"input":{"headers":{"a":2,"b":1},"url":"https://x"},"dependsOn":[],"queue":null,"type":"noop","key":"a"},' +
        '{"input":{},"key":"b","type":"noop","queue":null,"dependsOn":["a"],"retry":{"maxAttempts":3,"maxFaults":10,"initialDelayMs":1000,' +
        '"backoffFactor":2,"maxDelayMs":60000},"timeoutMs":null}],"timeoutMs":null,"description":null}',
    ) as WorkflowDefinition;
    expect(reordered).toEqual(base);
    expect(definitionHash(reordered)).toBe(definitionHash(base));
  });

  it('ignores dependsOn order and defaults spelled out, once normalized', () => {
    const spelled = def([
      step('a', { input: { headers: { a: 2, b: 1 }, url: 'https://x' }, queue: null, dependsOn: [], retry: { ...DEFAULT_RETRY }, timeoutMs: null }),
      after('b', 'a', 'a'),
    ]);
    expect(definitionHash(spelled)).toBe(definitionHash(base));
    const x = def([step('a'), step('b'), after('c', 'a', 'b')]);
    const y = def([step('a'), step('b'), after('c', 'b', 'a')]);
    expect(definitionHash(x)).toBe(definitionHash(y));
  });

  it.each<{ case: string; definition: WorkflowDefinition }>([
    { case: 'input value', definition: def([step('a', { input: { url: 'https://y', headers: { b: 1, a: 2 } } }), after('b', 'a')]) },
    { case: 'input type', definition: def([step('a', { input: { url: 'https://x', headers: { b: '1', a: 2 } } }), after('b', 'a')]) },
    { case: 'retry', definition: def([step('a', { input: { url: 'https://x', headers: { b: 1, a: 2 } }, retry: { maxAttempts: 2 } }), after('b', 'a')]) },
    { case: 'an edge removed', definition: def([step('a', { input: { url: 'https://x', headers: { b: 1, a: 2 } } }), step('b')]) },
    { case: 'step order', definition: def([after('b', 'a'), step('a', { input: { url: 'https://x', headers: { b: 1, a: 2 } } })]) },
    { case: 'description', definition: { ...base, description: 'now described' } },
    { case: 'array order in input', definition: def([step('a', { input: { url: 'https://x', headers: { b: 1, a: 2 }, list: [2, 1] } }), after('b', 'a')]) },
  ])('changes when the $case changes', ({ definition }) => {
    expect(definitionHash(definition)).not.toBe(definitionHash(base));
  });
});

describe('canonicalJson', () => {
  it.each<{ value: Json; json: string }>([
    { value: { b: 1, a: [{ d: null, c: true }] }, json: '{"a":[{"c":true,"d":null}],"b":1}' },
    { value: { é: 1, z: 2, Z: 3, _: 4 }, json: '{"Z":3,"_":4,"z":2,"é":1}' },
    { value: [3, 'x', null], json: '[3,"x",null]' },
    { value: 'a"b', json: '"a\\"b"' },
    { value: { skip: undefined, keep: 1 } as never, json: '{"keep":1}' },
  ])('$json', ({ value, json }) => {
    expect(canonicalJson(value)).toBe(json);
  });
});
