import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../src/domain/glossary';
import { DEFAULT_RETRY } from '../../src/domain/glossary';
import { JITTER_HIGH, JITTER_LOW, backoffDelayMs, shouldRetry } from '../../src/domain/retry';

const policy = (p: Partial<RetryPolicy> = {}): RetryPolicy => ({ ...DEFAULT_RETRY, maxAttempts: 10, ...p });
/** random() = 0.5 puts the jitter multiplier at exactly 1. */
const middle = (): number => 0.5;
const low = (): number => 0;
/** The largest value Math.random can return. */
const high = (): number => 1 - Number.EPSILON;

describe('backoffDelayMs', () => {
  it.each<{ case: string; p: RetryPolicy; attempt: number; delay: number }>([
    { case: 'first retry waits initialDelayMs', p: policy(), attempt: 1, delay: 1000 },
    { case: 'doubles', p: policy(), attempt: 2, delay: 2000 },
    { case: 'doubles again', p: policy(), attempt: 3, delay: 4000 },
    { case: 'factor 3', p: policy({ backoffFactor: 3, initialDelayMs: 100 }), attempt: 4, delay: 2700 },
    { case: 'fractional factor', p: policy({ backoffFactor: 1.5, initialDelayMs: 1000 }), attempt: 3, delay: 2250 },
    { case: 'factor 1 is constant', p: policy({ backoffFactor: 1, initialDelayMs: 700 }), attempt: 9, delay: 700 },
    { case: 'capped at maxDelayMs', p: policy({ maxDelayMs: 5000 }), attempt: 4, delay: 5000 },
    { case: 'stays capped', p: policy({ maxDelayMs: 5000 }), attempt: 30, delay: 5000 },
    { case: 'overflowing growth hits the cap', p: policy({ backoffFactor: 1e6, maxDelayMs: 60_000 }), attempt: 100, delay: 60_000 },
    { case: 'zero initial delay', p: policy({ initialDelayMs: 0, maxDelayMs: 0 }), attempt: 5, delay: 0 },
    { case: 'zero initial delay with an overflowing factor', p: policy({ initialDelayMs: 0, backoffFactor: 1e308 }), attempt: 100, delay: 0 },
  ])('grows exponentially without jitter at random() = 0.5: $case', ({ p, attempt, delay }) => {
    expect(backoffDelayMs(p, attempt, middle)).toBe(delay);
  });

  it.each<{ case: string; p: RetryPolicy; attempt: number; random: () => number; delay: number }>([
    { case: 'lowest', p: policy(), attempt: 1, random: low, delay: 800 },
    { case: 'highest', p: policy(), attempt: 1, random: high, delay: 1200 },
    { case: 'quarter', p: policy(), attempt: 2, random: () => 0.25, delay: 1800 },
    // At the cap the upper half of the spread is cut off: maxDelayMs is a hard bound.
    { case: 'lowest at the cap', p: policy({ maxDelayMs: 5000 }), attempt: 10, random: low, delay: 4000 },
    { case: 'highest at the cap', p: policy({ maxDelayMs: 5000 }), attempt: 10, random: high, delay: 5000 },
    { case: 'above the cap before jitter', p: policy({ maxDelayMs: 5000 }), attempt: 3, random: high, delay: 4800 },
    { case: 'jitter pushes into the cap', p: policy({ maxDelayMs: 4500 }), attempt: 3, random: high, delay: 4500 },
    { case: 'rounds to whole ms', p: policy({ initialDelayMs: 3 }), attempt: 1, random: () => 0.3, delay: 3 },
    { case: 'random() above 1 is clamped', p: policy(), attempt: 1, random: () => 7, delay: 1200 },
    { case: 'negative random() is clamped', p: policy(), attempt: 1, random: () => -3, delay: 800 },
    { case: 'NaN random() counts as 0', p: policy(), attempt: 1, random: () => Number.NaN, delay: 800 },
  ])('applies ±20 % jitter: $case', ({ p, attempt, random, delay }) => {
    expect(backoffDelayMs(p, attempt, random)).toBe(delay);
  });

  it('stays within [0.8, 1.2] × base and at most maxDelayMs for any random value', () => {
    const p = policy({ initialDelayMs: 250, backoffFactor: 2.5, maxDelayMs: 30_000 });
    for (let attempt = 1; attempt <= 12; attempt++) {
      const base = Math.min(p.maxDelayMs, p.initialDelayMs * p.backoffFactor ** (attempt - 1));
      for (let k = 0; k <= 100; k++) {
        const delay = backoffDelayMs(p, attempt, () => k / 100);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(base * JITTER_LOW));
        expect(delay).toBeLessThanOrEqual(Math.min(p.maxDelayMs, Math.ceil(base * JITTER_HIGH)));
      }
    }
  });

  it('is deterministic given random and calls it once', () => {
    let calls = 0;
    const random = (): number => {
      calls++;
      return 0.37;
    };
    expect(backoffDelayMs(policy(), 3, random)).toBe(backoffDelayMs(policy(), 3, () => 0.37));
    expect(calls).toBe(1);
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity])('rejects attempt %s as a caller bug', (attempt) => {
    expect(() => backoffDelayMs(policy(), attempt, middle)).toThrow(RangeError);
  });
});

describe('shouldRetry', () => {
  it.each<{ maxAttempts: number; attempt: number; retryable: boolean; expected: boolean }>([
    { maxAttempts: 1, attempt: 1, retryable: true, expected: false },
    { maxAttempts: 3, attempt: 1, retryable: true, expected: true },
    { maxAttempts: 3, attempt: 2, retryable: true, expected: true },
    { maxAttempts: 3, attempt: 3, retryable: true, expected: false },
    { maxAttempts: 3, attempt: 4, retryable: true, expected: false },
    { maxAttempts: 3, attempt: 1, retryable: false, expected: false },
    { maxAttempts: 100, attempt: 99, retryable: true, expected: true },
    { maxAttempts: 100, attempt: 100, retryable: true, expected: false },
  ])('maxAttempts $maxAttempts, attempt $attempt failed, retryable $retryable → $expected', ({ maxAttempts, attempt, retryable, expected }) => {
    expect(shouldRetry(policy({ maxAttempts }), attempt, retryable)).toBe(expected);
  });

  it('with the default policy retries twice: three attempts in all', () => {
    expect(shouldRetry(DEFAULT_RETRY, 1, true)).toBe(true);
    expect(shouldRetry(DEFAULT_RETRY, 2, true)).toBe(true);
    expect(shouldRetry(DEFAULT_RETRY, 3, true)).toBe(false);
  });
});
