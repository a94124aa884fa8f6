/**
 * Each tenant's share of a replica's built-in executors: at most `total` attempts of one tenant
 * execute at once, of them at most `http` http steps. A tenant whose steps wait on a slow server
 * (a tarpit that never answers) holds its share and no more; the rest of the pool stays for the
 * others. Synchronous and single-threaded, like SlotPool.
 *
 * A dispatch claim asks for `budgets()` first (what each tenant may still start; tenants not
 * listed may start `defaults`) and `take`s each claimed task after; while a claim runs, what it
 * may give a listed tenant is set aside (`pending`), so two claims at once do not both fill the
 * same tenant's share. A tenant that started from nothing in two claims at once may come back
 * over its share: `take` then answers false and the caller gives that task back.
 */
export interface ShareBudgets {
  /** Tenants holding slots, with what each may still start. */
  tenants: string[];
  total: number[];
  http: number[];
  /** What a tenant not listed may start. */
  defaults: { total: number; http: number };
}

interface Held {
  total: number;
  http: number;
  pendingTotal: number;
  pendingHttp: number;
}

export class TenantShares {
  private readonly held = new Map<string, Held>();

  constructor(readonly caps: { total: number; http: number }) {
    if (!(caps.total >= 1 && caps.http >= 1)) throw new RangeError(`tenant shares must be >= 1, got ${JSON.stringify(caps)}`);
  }

  /** Attempts of a tenant executing now. */
  holding(tenantId: string): { total: number; http: number } {
    const h = this.held.get(tenantId);
    return { total: h?.total ?? 0, http: h?.http ?? 0 };
  }

  /** What each tenant may still start, set aside until `settle(budgets)`. */
  budgets(): ShareBudgets {
    const out: ShareBudgets = { tenants: [], total: [], http: [], defaults: { total: this.caps.total, http: this.caps.http } };
    for (const [tenant, h] of this.held) {
      const total = Math.max(0, this.caps.total - h.total - h.pendingTotal);
      const http = Math.max(0, Math.min(total, this.caps.http - h.http - h.pendingHttp));
      h.pendingTotal += total;
      h.pendingHttp += http;
      out.tenants.push(tenant);
      out.total.push(total);
      out.http.push(http);
    }
    return out;
  }

  /** The claim that asked for `budgets` has returned: what it set aside is free again. */
  settle(b: ShareBudgets): void {
    b.tenants.forEach((tenant, i) => {
      const h = this.held.get(tenant);
      if (!h) return;
      h.pendingTotal = Math.max(0, h.pendingTotal - b.total[i]!);
      h.pendingHttp = Math.max(0, h.pendingHttp - b.http[i]!);
      this.prune(tenant, h);
    });
  }

  /** Whether one more attempt of the tenant (an http step or not) would be within its share now. */
  hasRoom(tenantId: string, http: boolean): boolean {
    const h = this.held.get(tenantId);
    return !h || (h.total < this.caps.total && (!http || h.http < this.caps.http));
  }

  /** Counts one attempt of the tenant as executing; false (nothing counted) when that would exceed its share. */
  take(tenantId: string, http: boolean): boolean {
    if (!this.hasRoom(tenantId, http)) return false;
    const h = this.held.get(tenantId) ?? { total: 0, http: 0, pendingTotal: 0, pendingHttp: 0 };
    h.total++;
    if (http) h.http++;
    this.held.set(tenantId, h);
    return true;
  }

  /** One attempt of the tenant stopped executing. */
  free(tenantId: string, http: boolean): void {
    const h = this.held.get(tenantId);
    if (!h) return;
    h.total = Math.max(0, h.total - 1);
    if (http) h.http = Math.max(0, h.http - 1);
    this.prune(tenantId, h);
  }

  private prune(tenantId: string, h: Held): void {
    if (h.total === 0 && h.http === 0 && h.pendingTotal === 0 && h.pendingHttp === 0) this.held.delete(tenantId);
  }
}

/** Tenants a claim given these budgets skips (for all their steps, or their http steps). */
export function atShare(budgets: ShareBudgets): string[] {
  return budgets.tenants.filter((_, i) => budgets.total[i]! === 0 || budgets.http[i]! === 0);
}

/**
 * Tenants a claim filled: it took all their budget (`http`: their http steps' budget, else all
 * of it), so their turn in the round robin ended early (others' work may still be ready) and
 * their further ready work waits for their slots. A tenant at its share before the claim had no
 * turn: see `atShare`.
 */
export function sharesFilled(budgets: ShareBudgets, claimed: readonly { tenantId: string; http: boolean }[]): { tenantId: string; http: boolean }[] {
  const got = new Map<string, { total: number; http: number }>();
  for (const { tenantId, http } of claimed) {
    const g = got.get(tenantId) ?? { total: 0, http: 0 };
    g.total++;
    if (http) g.http++;
    got.set(tenantId, g);
  }
  const index = new Map(budgets.tenants.map((t, i) => [t, i]));
  const filled: { tenantId: string; http: boolean }[] = [];
  for (const [tenantId, g] of got) {
    const i = index.get(tenantId);
    const total = i === undefined ? budgets.defaults.total : budgets.total[i]!;
    const http = i === undefined ? budgets.defaults.http : budgets.http[i]!;
    if (g.total >= total) filled.push({ tenantId, http: false });
    else if (g.http > 0 && g.http >= http) filled.push({ tenantId, http: true });
  }
  return filled;
}
