import { restingTask } from '../../src/domain/resting-task';
import { describe, expect, it } from 'vitest';
import { decideResult } from '../../src/domain/decisions';
import { LeaseLostError } from '../../src/domain/errors';
import { formatLeaseToken, parseLeaseToken, secretMatches } from '../../src/domain/lease-token';
import type { TaskState } from '../../src/domain/run-machine';

const SECRET = 'AAAAAAAAAAAAAAAAAAAAAA';

describe('lease tokens', () => {
  it('format and parse `<fence>.<secret>`, and a bare fence (attempts from before secrets)', () => {
    expect(formatLeaseToken('42', SECRET)).toBe(`42.${SECRET}`);
    expect(parseLeaseToken(`42.${SECRET}`)).toEqual({ fence: '42', secret: SECRET });
    expect(formatLeaseToken('42', null)).toBe('42');
    expect(parseLeaseToken('42')).toEqual({ fence: '42', secret: null });
  });

  it.each([['01'], ['-1'], ['9223372036854775808'], ['42.'], ['42.short'], [`42.${SECRET}x`], [`42.${SECRET.slice(1)}+`], ['x.y'], ['']])(
    'refuses %j',
    (token) => {
      expect(parseLeaseToken(token)).toBeNull();
    },
  );

  it('compares secrets: equal ones match; a missing one matches only a missing one', () => {
    expect(secretMatches(SECRET, SECRET)).toBe(true);
    expect(secretMatches(SECRET, `${SECRET.slice(0, -1)}B`)).toBe(false);
    expect(secretMatches(SECRET, null)).toBe(false);
    expect(secretMatches(null, SECRET)).toBe(false);
    expect(secretMatches(null, null)).toBe(true);
  });

  const task = (leaseSecret: string | null): TaskState =>
    restingTask({
      id: 't1',
      key: 'a',
      status: 'RUNNING',
      attempt: 1,
      fence: '7',
      leaseSecret,
      workerId: 'w',
    });
  const run = { id: 'r1', status: 'RUNNING' as const };
  const ok = { kind: 'succeeded' as const, output: 1 };

  it('a result with the current fence but the wrong secret is refused like a stale token', () => {
    expect(decideResult(run, task(SECRET), '7', ok, `${SECRET.slice(0, -1)}B`)).toEqual({ refused: expect.any(LeaseLostError) });
    expect(decideResult(run, task(SECRET), '7', ok, null)).toEqual({ refused: expect.any(LeaseLostError) });
    expect(decideResult(run, task(SECRET), '7', ok, SECRET)).toHaveProperty('transition');
  });

  it("an attempt claimed before secrets accepts its bare fence; the conductor's own executors are not asked for one", () => {
    expect(decideResult(run, task(null), '7', ok, null)).toHaveProperty('transition');
    expect(decideResult(run, task(null), '7', ok, SECRET)).toEqual({ refused: expect.any(LeaseLostError) });
    expect(decideResult(run, task(SECRET), '7', ok)).toHaveProperty('transition');
  });
});
