import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * A page of runs counts the tenant's matching runs only when the answer needs the count:
 * `totalCount` asked, or `hasPreviousPage` past an `after` cursor (`hasNextPage` before a
 * `before`). Without, it is one index range read (issue 11, bench scenario 7: every alias of a
 * heavy read counted all 3,000 of the tenant's runs). Statements are read off the database, and
 * pageInfo is checked against the runs. Both modes.
 */
describe('pages of runs', () => {
  let t: TestApp;
  const statements: string[] = [];
  beforeAll(async () => {
    t = await startTestApp();
    await t.ok(`mutation { registerWorkflow(input: { name: "pages", steps: [{ key: "a", type: "noop" }] }) { id } }`);
    for (let i = 0; i < 7; i++) {
      const { startRun } = await t.ok<{ startRun: { id: string } }>(`mutation { startRun(workflow: "pages") { id } }`);
      await waitForRun(t, startRun.id);
    }
    const db = t.app.db;
    const rows = db.rows.bind(db);
    db.rows = (<T>(text: string, params?: readonly unknown[]) => {
      statements.push(text);
      return rows<T>(text, params);
    }) as typeof db.rows;
  });
  afterAll(async () => {
    await t?.close();
  });

  const counted = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<{ data: T; counts: number }> => {
    statements.length = 0;
    const data = await t.ok<T>(query, variables);
    return { data, counts: statements.filter((s) => /count\(\*\)/.test(s) && /FROM runs/.test(s)).length };
  };

  type Runs = { runs: { totalCount?: number; nodes: { id: string }[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string } } };

  it('the first page without totalCount counts nothing; its pageInfo is right', async () => {
    const { data, counts } = await counted<Runs>(`{ runs(first: 3) { nodes { id } pageInfo { hasNextPage hasPreviousPage endCursor } } }`);
    expect(counts).toBe(0);
    expect(data.runs.nodes).toHaveLength(3);
    expect(data.runs.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    // The last page: nothing follows.
    const last = await counted<Runs>(`{ runs(last: 3) { nodes { id } pageInfo { hasNextPage hasPreviousPage } } }`);
    expect(last.counts).toBe(0);
    expect(last.data.runs.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true });
  });

  it('totalCount, or hasPreviousPage past a cursor, counts once', async () => {
    const total = await counted<Runs>(`{ runs(first: 3) { totalCount nodes { id } } }`);
    expect(total.counts).toBe(1);
    expect(total.data.runs.totalCount).toBe(7);
    const first = await counted<Runs>(`{ runs(first: 3) { nodes { id } pageInfo { hasNextPage hasPreviousPage endCursor } } }`);
    const second = await counted<Runs>(
      `query($after: String) { runs(first: 3, after: $after) { nodes { id } pageInfo { hasNextPage hasPreviousPage endCursor } } }`,
      {
        after: first.data.runs.pageInfo.endCursor,
      },
    );
    expect(second.counts).toBe(1);
    expect(second.data.runs.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const third = await counted<Runs>(`query($after: String) { runs(first: 3, after: $after) { nodes { id } pageInfo { hasNextPage hasPreviousPage } } }`, {
      after: second.data.runs.pageInfo.endCursor,
    });
    expect(third.data.runs.nodes).toHaveLength(1);
    expect(third.data.runs.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true });
    // Fifteen aliases of a page, none asking totalCount: no count at all.
    const aliases = await counted<Record<string, unknown>>(`{ ${Array.from({ length: 15 }, (_, i) => `a${i}: runs(first: 5) { nodes { id } }`).join(' ')} }`);
    expect(aliases.counts).toBe(0);
  });
});
