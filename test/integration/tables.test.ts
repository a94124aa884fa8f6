import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource, EntityMetadata } from 'typeorm';
import { TABLES, type PgType } from '../../src/store/tables';
import { testDataSource } from '../helpers/db';

/**
 * The one-statement writes (writeTransition, insertRun) build their column lists and types from
 * the descriptions in src/store/tables.ts; this pins those to the TypeORM entities, as
 * drift.test.ts pins the migrations to the entities. A column added to an entity fails here until
 * its table's description has it and it is either written by transitions or listed below as
 * fixed when its row is created.
 */

/** Columns no transition changes: set when the row is created (by insertRun), never after. */
const FIXED_AT_CREATION: Record<string, readonly string[]> = {
  tasks: [
    'tenantId',
    'runId',
    'position',
    'key',
    'type',
    'queue',
    'timeoutMs',
    'createdAt',
    'parentTaskId',
    'item',
    'itemIndex',
    // From the step and run at creation; the claim's rate-limit hold alone writes rateLimitedUntil.
    'priority',
    'rateLimitLimit',
    'rateLimitPeriodMs',
    'rateLimitedUntil',
  ],
  runs: [
    'tenantId',
    'workflowId',
    'workflowName',
    'workflowVersion',
    'input',
    'idempotencyKey',
    'requestHash',
    'tags',
    'metadata',
    'createdAt',
    'traceparent',
    'parentRunId',
    'parentTaskId',
    'depth',
    'trigger',
    'priority',
  ],
  task_attempts: [],
  run_events: [],
};

const sorted = (names: Iterable<string>) => [...names].sort();

describe('table descriptions of the one-statement writes', () => {
  const db = testDataSource();
  let ds: DataSource;

  beforeAll(async () => {
    ds = await db.open();
  });
  afterAll(() => db.close());

  const entityOf = (table: string): EntityMetadata => {
    const metadata = ds.entityMetadatas.find((m) => m.tableName === table);
    if (!metadata) throw new Error(`no entity maps table "${table}"`);
    return metadata;
  };
  /** Types compared as Postgres names them: `int` and `integer` are one type. */
  const normalized = (type: PgType | EntityMetadata['columns'][number]['type']) => ds.driver.normalizeType({ type });

  describe.each(TABLES.map((t) => [t.name, t] as const))('%s', (name, table) => {
    it('describes exactly the columns of its entity, each with the entity’s type', () => {
      const columns = entityOf(name).columns;
      expect(sorted(Object.keys(table.columns)), 'columns in src/store/tables.ts (received) vs the entity (expected)').toEqual(
        sorted(columns.map((c) => c.databaseName)),
      );
      for (const column of columns) {
        const described = table.columns[column.databaseName];
        expect(described && normalized(described), `type of ${name}.${column.databaseName}`).toBe(normalized(column.type));
      }
    });

    it('has the entity’s primary key', () => {
      expect(sorted(table.primaryKey)).toEqual(sorted(entityOf(name).primaryColumns.map((c) => c.databaseName)));
    });

    it('writes each column at most once, and never updates its key', () => {
      for (const list of [table.transitionUpdates, table.transitionInserts]) {
        expect(new Set(list).size).toBe(list.length);
        for (const column of list) expect(table.columns).toHaveProperty([column]);
      }
      expect(table.transitionUpdates.filter((c) => table.primaryKey.includes(c))).toEqual([]);
    });

    it('accounts for every entity column: a key, written by transitions, or fixed at creation', () => {
      const fixed = FIXED_AT_CREATION[name];
      expect(fixed, `list the columns of ${name} no transition writes in FIXED_AT_CREATION`).toBeDefined();
      const written = new Set([...table.transitionUpdates, ...table.transitionInserts]);
      // A transition may insert a row whole (a forEach step's items): fixed means never updated.
      expect(
        fixed!.filter((c) => (table.transitionUpdates as readonly string[]).includes(c)),
        'a column both fixed and updated',
      ).toEqual([]);
      const accounted = new Set([...table.primaryKey, ...written, ...fixed!]);
      const missing = entityOf(name)
        .columns.map((c) => c.databaseName)
        .filter((c) => !accounted.has(c));
      expect(
        missing,
        `columns of ${name} a transition neither writes nor declares fixed: add them to transitionUpdates (src/store/tables.ts) or FIXED_AT_CREATION`,
      ).toEqual([]);
      expect(sorted(accounted)).toEqual(sorted(entityOf(name).columns.map((c) => c.databaseName)));
    });
  });
});
