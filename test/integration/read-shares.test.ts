import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FairTurns } from '../../src/primitives/fair-turns';
import { readLane } from '../../src/store/read-lane';
import { Database } from '../../src/store/sql';
import { collect, startTestApp, type TestApp } from '../helpers/app';
import { REAL_POSTGRES, testDataSource } from '../helpers/db';

/**
 * Each tenant's share of the pool for API reads (DATABASE_READ_CONNECTIONS,
 * TENANT_READ_CONNECTIONS; issue #11, bench scenario 7: the 15 aliases of one tenant's heavy read
 * queued 14 statements ahead of every other tenant's in the pool). Real connections, both modes;
 * the ordering tests need a pool of more than one connection, so they run on a Postgres server.
 */
describe('read shares of the database pool', () => {
  describe.runIf(REAL_POSTGRES)('Database with read turns, on a pool of 4', () => {
    const source = testDataSource({ poolSize: 4 });
    let db: Database;
    let turns: FairTurns;
    beforeAll(async () => {
      const ds = await source.open();
      turns = new FairTurns({ capacity: 2, perKey: 1, timeoutMs: 5_000, onTimeout: () => new Error('no read turn') });
      db = new Database(ds, true, turns);
    });
    afterAll(async () => {
      await source.close();
    });

    it('a tenant flooding reads holds its one turn; another tenant’s read is served before the flood’s second statement', async () => {
      const done: string[] = [];
      let maxHeldByA = 0;
      const sample = setInterval(() => (maxHeldByA = Math.max(maxHeldByA, turns.holding('a'))), 1);
      const flood = readLane.run({ tenantId: 'a' }, () =>
        Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            db.rows('SELECT pg_sleep(0.2)').then(() => {
              done.push(`a${i}`);
            }),
          ),
        ),
      );
      // B arrives after the flood has queued: it takes the free turn at once.
      await new Promise((r) => setImmediate(r));
      expect(turns.queued('a')).toBe(4);
      const startedB = performance.now();
      await readLane.run({ tenantId: 'b' }, () => db.rows('SELECT 1'));
      done.push('b');
      const bMs = performance.now() - startedB;
      await flood;
      clearInterval(sample);
      console.log(`[read-shares] order ${done.join(' ')}; B's read took ${bMs.toFixed(1)} ms behind A's 5 × 200 ms statements; A held at most ${maxHeldByA}`);
      expect(done[0]).toBe('b');
      expect(maxHeldByA).toBe(1);
      expect(turns.holding()).toBe(0);
    });

    it('statements outside a read lane (writes, the engine) take no turn', async () => {
      const held = readLane.run({ tenantId: 'a' }, () => db.rows('SELECT pg_sleep(0.3)'));
      await new Promise((r) => setImmediate(r));
      await readLane.run({ tenantId: 'c' }, async () => {
        const inner = db.rows('SELECT pg_sleep(0.3)');
        await new Promise((r) => setImmediate(r));
        // Both turns held (a's and c's): the engine's statement still runs.
        expect(turns.holding()).toBe(2);
        await readLane.exit(() => db.transaction((sql) => sql.rows('SELECT 1')));
        await inner;
      });
      await held;
      expect(turns.holding()).toBe(0);
    });
  });

  describe('through the API', () => {
    let t: TestApp;
    let key: string;
    const acquired: string[] = [];
    beforeAll(async () => {
      t = await startTestApp({ env: { NODE_ENV: 'production', RATE_LIMIT_COST_PER_TENANT: '0' } });
      key = (await t.app.services.auth.createKey('tenant-reader')).key;
      const turns = t.app.db.readTurns!;
      const acquire = turns.acquire.bind(turns);
      turns.acquire = (tenant: string) => {
        acquired.push(tenant);
        return acquire(tenant);
      };
    });
    afterAll(async () => {
      await t?.close();
    });

    const post = async (query: string) => {
      const res = await fetch(t.app.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query }),
      });
      return (await res.json()) as { data?: any; errors?: unknown[] };
    };

    it('a query’s statements take its tenant’s turns; a mutation’s do not', async () => {
      await post(`mutation { registerWorkflow(input: { name: "reads", steps: [{ key: "a", type: "noop" }] }) { id } }`);
      expect(acquired).toEqual([]);
      const json = await post('query { a: runs(first: 5) { nodes { id tasks { key } } } b: workflows { totalCount } }');
      expect(json.errors).toBeUndefined();
      console.log(`[read-shares] one query: ${acquired.length} read turns, all of tenant-reader: ${acquired.every((x) => x === 'tenant-reader')}`);
      expect(acquired.length).toBeGreaterThanOrEqual(2);
      expect(new Set(acquired)).toEqual(new Set(['tenant-reader']));
    });

    it('a subscription’s replay reads take its tenant’s turns (its `subscribe` runs outside the middlewares)', async () => {
      const { startRun } = await t.ok<{ startRun: { id: string } }>(`mutation { startRun(workflow: "reads") { id } }`, {}, key);
      for (let i = 0; i < 100; i++) {
        const { run } = await t.ok<{ run: { status: string } }>(`query($id: ID!) { run(id: $id) { status } }`, { id: startRun.id }, key);
        if (run.status === 'SUCCEEDED') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      acquired.length = 0;
      const sub = collect<{ runUpdated: { seq: number } }>(
        t.ws(key),
        'subscription($id: ID!) { runUpdated(id: $id, afterSeq: 0) { seq } }',
        { id: startRun.id },
        () => false,
      );
      // Completes after the run's terminal event, replayed from the database.
      const events = await sub.done;
      console.log(`[read-shares] ${events.length} events replayed; read turns taken: ${acquired.length}`);
      expect(events.length).toBeGreaterThan(0);
      // The run (getOrThrow) and at least one page of its events.
      expect(acquired.length).toBeGreaterThanOrEqual(2);
      expect(new Set(acquired)).toEqual(new Set(['tenant-reader']));
    });
  });
});
