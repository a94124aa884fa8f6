import { describe, expect, it } from 'vitest';
import { normalizeDefinition } from '../../src/domain/dag';
import { claimRank } from '../../src/domain/priorities';
import { advance, allowance, eligibleAt, keyForm, rateLimitKeyOf, RateLimitKeyError, type RateLimitBucket } from '../../src/domain/rate-limits';
import { planRun } from '../../src/domain/run-plan';

const NOW = Date.UTC(2031, 0, 1);
const HOUR = 3_600_000;
const bucket = (limit: number, periodMs: number, tatMs: number | null = null): RateLimitBucket => ({ tatMs, intervalMs: periodMs / limit, burst: limit });

describe('GCRA decisions', () => {
  it.each<[string, RateLimitBucket, number, number]>([
    ['a key never used allows its whole limit', bucket(10, 1000), NOW, 10],
    ['an idle key (TAT in the past) the same', bucket(10, 1000, NOW - 60_000), NOW, 10],
    ['right after a burst of 10: none', bucket(10, 1000, NOW + 1000), NOW, 0],
    ['100 ms after the burst: one', bucket(10, 1000, NOW + 1000), NOW + 100, 1],
    ['99 ms after the burst: still none', bucket(10, 1000, NOW + 1000), NOW + 99, 0],
    ['a fractional interval (3 per 1000 ms) at its boundary', bucket(3, 1000, NOW + 1000), NOW + 1000 / 3, 1],
    ['a limit of 1', bucket(1, 500, NOW + 500), NOW + 500, 1],
  ])('%s', (_name, b, now, expected) => {
    expect(allowance(b, now)).toBe(expected);
  });

  it('charges from max(TAT, now) and names the instant the next may start', () => {
    const b = bucket(10, 1000);
    const tat = advance(b, NOW, 10);
    expect(tat).toBe(NOW + 1000);
    expect(eligibleAt(b, tat)).toBe(NOW + 100);
    expect(allowance({ ...b, tatMs: tat }, eligibleAt(b, tat))).toBe(1);
    // A key idle for an hour starts again from now, not from its old TAT.
    expect(advance(bucket(10, 1000, NOW - HOUR), NOW, 1)).toBe(NOW + 100);
  });

  it('never lets more than limit + t / T start in t ms, claiming every ms', () => {
    const b = bucket(7, 1000);
    let started = 0;
    for (let now = NOW; now < NOW + 10_000; now++) {
      const n = allowance(b, now);
      started += n;
      b.tatMs = n > 0 ? advance(b, now, n) : b.tatMs;
    }
    expect(started).toBeLessThanOrEqual(7 + 70);
    expect(started).toBeGreaterThanOrEqual(70);
  });
});

describe('rate-limit keys', () => {
  it.each<[string, 'literal' | 'cel']>([
    ['openai', 'literal'],
    ['api.example.com', 'literal'],
    ['tenant:eu-1/model', 'literal'],
    ['input.customer', 'cel'],
    ['steps.a.output.region', 'cel'],
    ['"fixed"', 'cel'],
    ['input.region + ":" + string(index)', 'cel'],
  ])('%s is a %s', (key, kind) => {
    expect(keyForm(key).kind).toBe(kind);
  });

  it('evaluates over the run input, dependencies, item and index; a number becomes text', () => {
    const scope = { input: { customer: 'acme', n: 7 }, steps: { a: { output: { region: 'eu' } } } };
    expect(rateLimitKeyOf({ key: 's', rateLimit: { key: 'input.customer', limit: 1, periodMs: 1 } }, scope)).toBe('acme');
    expect(rateLimitKeyOf({ key: 's', rateLimit: { key: 'steps.a.output.region', limit: 1, periodMs: 1 } }, scope)).toBe('eu');
    expect(rateLimitKeyOf({ key: 's', rateLimit: { key: 'input.n', limit: 1, periodMs: 1 } }, scope)).toBe('7');
    expect(rateLimitKeyOf({ key: 's', rateLimit: { key: 'item.host', limit: 1, periodMs: 1 } }, { ...scope, item: { host: 'h1' }, index: 0 })).toBe('h1');
    expect(rateLimitKeyOf({ key: 's', rateLimit: undefined }, scope)).toBeNull();
  });

  it('refuses a key that cannot be evaluated or is no string, naming the step', () => {
    const scope = { input: { list: [1] }, steps: {} };
    for (const key of ['input.missing', 'input.list']) {
      const run = () => rateLimitKeyOf({ key: 'call', rateLimit: { key, limit: 1, periodMs: 1 } }, scope);
      expect(run).toThrow(RateLimitKeyError);
      expect(run).toThrow(/step "call"/);
    }
  });

  it('planRun keys a root step with the run input, each forEach item with its item, and leaves later steps for their promotion', () => {
    const { definition } = normalizeDefinition({
      name: 'plan',
      steps: [
        { key: 'root', type: 'call', queue: 'q', rateLimit: { key: 'input.customer', limit: 5, periodMs: 1000 }, priority: 3 },
        { key: 'fan', type: 'call', queue: 'q', forEach: 'input.hosts', rateLimit: { key: 'item', limit: 1, periodMs: 1000 } },
        { key: 'later', type: 'call', queue: 'q', dependsOn: ['root'], rateLimit: { key: 'steps.root.output.region', limit: 2, periodMs: 60_000 } },
      ],
    });
    const tasks = planRun(definition, { customer: 'acme', hosts: ['a.example', 'b.example'] }, undefined, { newId: () => crypto.randomUUID(), priority: 1 });
    const byKey = (k: string) => tasks.filter((t) => t.key === k);
    expect(byKey('root')[0]).toMatchObject({ status: 'QUEUED', rateLimitKey: 'acme', rateLimitLimit: 5, rateLimitPeriodMs: 1000, priority: 3 });
    expect(
      byKey('fan')
        .filter((t) => t.parentTaskId !== null)
        .map((t) => t.rateLimitKey),
    ).toEqual(['a.example', 'b.example']);
    expect(byKey('later')[0]).toMatchObject({ status: 'PENDING', rateLimitKey: null, rateLimitLimit: 2, rateLimitPeriodMs: 60_000, priority: 1 });
  });
});

describe('claim rank', () => {
  it('orders by priority, and age raises a task one level per aging period', () => {
    const aging = 60_000;
    const at = (ms: number) => new Date(NOW + ms);
    // Same instant: higher first.
    expect(claimRank(at(0), 3, aging)).toBeLessThan(claimRank(at(0), 2, aging));
    // A priority-1 task ready 2 periods (and 1 ms) earlier goes before a priority-3 one.
    expect(claimRank(at(-2 * aging - 1), 1, aging)).toBeLessThan(claimRank(at(0), 3, aging));
    expect(claimRank(at(-2 * aging + 1), 1, aging)).toBeGreaterThan(claimRank(at(0), 3, aging));
  });
});
