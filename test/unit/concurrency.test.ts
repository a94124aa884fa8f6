import { describe, expect, it } from 'vitest';
import { concurrencyKeyOf, decideAdmission, gatedTaskMoves, normalizeConcurrency, normalizeStepConcurrency } from '../../src/domain/concurrency';

const m = (...ids: string[]) => ids.map((id, i) => ({ runId: id, seq: String(i + 1) }));
const seqs = (pairs: [string, number][]) => pairs.map(([runId, seq]) => ({ runId, seq: String(seq) }));

describe('decideAdmission', () => {
  it.each([
    ['QUEUE', 2, [], m('a', 'b', 'c'), ['a', 'b'], []],
    ['QUEUE', 2, m('x'), m('a', 'b'), ['a'], []],
    ['QUEUE', 1, m('x'), m('a'), [], []],
    ['ROUND_ROBIN', 1, [], m('a', 'b'), ['a'], []],
    ['CANCEL_NEWEST', 1, m('x'), m('a', 'b'), [], ['a', 'b']],
    ['CANCEL_NEWEST', 2, m('x'), m('a', 'b'), ['a'], ['b']],
  ] as const)('%s max %i, in flight %j, waiting %j: admits %j, cancels %j', (strategy, max, inFlight, waiting, admit, cancel) => {
    const d = decideAdmission({ strategy, max }, 'k', inFlight, waiting);
    expect(d.admit).toEqual(admit);
    expect(d.cancel.map((c) => c.runId)).toEqual(cancel);
  });

  it('CANCEL_IN_PROGRESS keeps the newest max of all, running or not, by arrival (seq 10 after seq 9)', () => {
    const d = decideAdmission(
      { strategy: 'CANCEL_IN_PROGRESS', max: 2 },
      'k',
      seqs([
        ['old', 9],
        ['mid', 10],
      ]),
      seqs([['new', 11]]),
    );
    expect(d.admit).toEqual(['new']);
    expect(d.cancel.map((c) => c.runId)).toEqual(['old']);
    expect(d.cancel[0]!.reason).toMatch(/CANCEL_IN_PROGRESS: a newer run of concurrency key "k"/);
  });

  it('names the workflow rather than an empty key', () => {
    expect(decideAdmission({ strategy: 'CANCEL_NEWEST', max: 1 }, '', m('x'), m('a')).cancel[0]!.reason).toMatch(/its workflow already has 1/);
  });
});

describe('normalizeConcurrency and keys', () => {
  it('defaults the strategy to QUEUE and keeps the key expression', () => {
    expect(normalizeConcurrency('w', { max: 3 })).toEqual({ max: 3, strategy: 'QUEUE' });
    expect(normalizeConcurrency('w', { max: 3, key: 'input.tenant', strategy: 'ROUND_ROBIN' })).toEqual({
      max: 3,
      key: 'input.tenant',
      strategy: 'ROUND_ROBIN',
    });
    expect(normalizeConcurrency('w', null)).toBeUndefined();
  });

  it.each([
    [{ max: 0 }, 'concurrency.max'],
    [{ max: 1.5 }, 'concurrency.max'],
    [{ max: 1, strategy: 'LIFO' }, 'concurrency.strategy'],
  ])('refuses %j naming %s', (draft, field) => {
    expect(() => normalizeConcurrency('w', draft)).toThrow(
      expect.objectContaining({ data: expect.objectContaining({ reason: 'INVALID_CONCURRENCY', field }) }),
    );
  });

  it('type-checks the key at registration', () => {
    expect(() => normalizeConcurrency('w', { max: 1, key: 'input.' })).toThrow();
  });

  it('evaluates keys to strings; refuses objects and over-long values', () => {
    const policy = { max: 1, strategy: 'QUEUE' as const, key: 'input.k' };
    expect(concurrencyKeyOf('w', policy, { k: 'a' })).toBe('a');
    expect(concurrencyKeyOf('w', policy, { k: 7 })).toBe('7');
    expect(concurrencyKeyOf('w', { max: 1, strategy: 'QUEUE' }, { k: 'a' })).toBe('');
    expect(() => concurrencyKeyOf('w', policy, { k: { a: 1 } })).toThrow(/must yield a string/);
    expect(() => concurrencyKeyOf('w', policy, { k: 'x'.repeat(257) })).toThrow(/at most 256/);
  });

  it('a step takes QUEUE or ROUND_ROBIN only, and not on forEach or workflow steps', () => {
    expect(normalizeStepConcurrency('w', { key: 's', type: 'noop' }, { max: 2 })).toEqual({ max: 2, strategy: 'QUEUE' });
    expect(() => normalizeStepConcurrency('w', { key: 's', type: 'noop' }, { max: 2, strategy: 'CANCEL_IN_PROGRESS' })).toThrow(
      /set CANCEL_IN_PROGRESS on the workflow/,
    );
    expect(() => normalizeStepConcurrency('w', { key: 's', type: 'noop', forEach: 'input.xs' }, { max: 2 })).toThrow(/maxConcurrency/);
    expect(() => normalizeStepConcurrency('w', { key: 's', type: 'workflow' }, { max: 2 })).toThrow(/child workflow/);
  });
});

describe('gatedTaskMoves', () => {
  const wf = {
    name: 'wf',
    definition: {
      steps: [{ key: 'gated', concurrency: { key: 'input.k', max: 2, strategy: 'ROUND_ROBIN' as const } }, { key: 'free' }],
    },
  };
  const task = (id: string, key: string, status: string, parentTaskId: string | null = null) => ({ id, key, status, parentTaskId });

  it('a gated task that ends leaves its group; one that runs again (retryRun) enters again with its key', () => {
    const before = [task('g1', 'gated', 'RUNNING'), task('g2', 'gated', 'FAILED'), task('f1', 'free', 'RUNNING')];
    const moves = gatedTaskMoves(wf, { k: 'eu' }, before, [
      { id: 'g1', status: 'SUCCEEDED' },
      { id: 'g2', status: 'PENDING' },
      { id: 'f1', status: 'SUCCEEDED' },
    ]);
    expect(moves).toEqual({ leave: ['g1'], enter: [{ taskId: 'g2', groupKey: 'step:wf/gated/eu', max: 2, strategy: 'ROUND_ROBIN' }] });
  });

  it.each(['FAILED', 'CANCELLED', 'SKIPPED'])('%s leaves too', (status) => {
    expect(gatedTaskMoves(wf, { k: 'x' }, [task('g', 'gated', 'QUEUED')], [{ id: 'g', status }]).leave).toEqual(['g']);
  });

  it('a retry within the step (RUNNING → QUEUED), an unchanged status and a workflow without gated steps move nothing', () => {
    const none = { leave: [], enter: [] };
    expect(gatedTaskMoves(wf, { k: 'x' }, [task('g', 'gated', 'RUNNING')], [{ id: 'g', status: 'QUEUED' }])).toEqual(none);
    expect(gatedTaskMoves(wf, { k: 'x' }, [task('g', 'gated', 'RUNNING')], [{ id: 'g' }])).toEqual(none);
    const plain = { name: 'p', definition: { steps: [{ key: 'gated' }] } };
    expect(gatedTaskMoves(plain, {}, [task('g', 'gated', 'RUNNING')], [{ id: 'g', status: 'SUCCEEDED' }])).toEqual(none);
  });
});
