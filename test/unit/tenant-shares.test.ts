import { describe, expect, it } from 'vitest';
import { atShare, sharesFilled, TenantShares } from '../../src/primitives/tenant-shares';

describe('TenantShares', () => {
  it('lets a tenant execute up to its share, and http steps up to theirs', () => {
    const s = new TenantShares({ total: 3, http: 2 });
    expect([s.take('a', true), s.take('a', true), s.take('a', true)]).toEqual([true, true, false]);
    expect(s.take('a', false)).toBe(true);
    expect(s.take('a', false)).toBe(false);
    // Another tenant is untouched by a's share.
    expect(s.take('b', true)).toBe(true);
    expect(s.holding('a')).toEqual({ total: 3, http: 2 });
    s.free('a', true);
    expect(s.take('a', true)).toBe(true);
  });

  it('gives a claim what each holding tenant may still start, and sets it aside from a second claim', () => {
    const s = new TenantShares({ total: 4, http: 2 });
    s.take('a', true);
    s.take('a', false);
    const first = s.budgets();
    expect(first).toEqual({ tenants: ['a'], total: [2], http: [1], defaults: { total: 4, http: 2 } });
    // A second claim while the first runs: a's remainder is promised to the first.
    expect(s.budgets()).toMatchObject({ tenants: ['a'], total: [0], http: [0] });
    s.settle(first);
    s.take('a', true);
    expect(s.budgets()).toMatchObject({ tenants: ['a'], total: [1], http: [0] });
  });

  it('forgets a tenant once it holds nothing', () => {
    const s = new TenantShares({ total: 2, http: 1 });
    s.take('a', false);
    s.free('a', false);
    expect(s.budgets().tenants).toEqual([]);
  });
});

describe('atShare and sharesFilled', () => {
  const http = (tenantId: string) => ({ tenantId, http: true });
  const plain = (tenantId: string) => ({ tenantId, http: false });

  it('a tenant at its share before the claim is skipped, not filled by it', () => {
    const s = new TenantShares({ total: 4, http: 2 });
    s.take('a', true);
    s.take('a', true);
    const budgets = s.budgets();
    // a may still start 2 steps, no http step.
    expect(atShare(budgets)).toEqual(['a']);
    expect(sharesFilled(budgets, [plain('b')])).toEqual([]);
    // a's non-http steps within its share do not fill it.
    expect(sharesFilled(budgets, [plain('a'), plain('b')])).toEqual([]);
  });

  it('a tenant whose budget a claim took is filled, by its http steps or by all of them', () => {
    const s = new TenantShares({ total: 4, http: 2 });
    const budgets = s.budgets();
    expect(atShare(budgets)).toEqual([]);
    expect(sharesFilled(budgets, [http('a'), http('a'), plain('b')])).toEqual([{ tenantId: 'a', http: true }]);
    expect(sharesFilled(budgets, [plain('a'), plain('a'), plain('a'), plain('a')])).toEqual([{ tenantId: 'a', http: false }]);
    expect(sharesFilled(budgets, [http('a'), plain('a'), plain('b')])).toEqual([]);
  });

  it('a share another claim set aside counts as held: at share for this claim', () => {
    const s = new TenantShares({ total: 2, http: 2 });
    s.take('a', false);
    const first = s.budgets();
    expect(atShare(first)).toEqual([]);
    // While the first claim runs, a's last slot is set aside for it.
    expect(atShare(s.budgets())).toEqual(['a']);
  });
});
