import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { generateSdkOperations, SDK_PATHS } from '../../scripts/codegen';
import { printSchemaSdl } from '../../src/graphql/schema';
import { MIGRATIONS } from '../../migrations';
import { runMigrations } from '../../src/store/data-source';
import { pendingSchemaChanges } from '../../src/store/schema-diff';
import { testDataSource } from '../helpers/db';

const root = join(__dirname, '..', '..');

describe('schema.graphql', () => {
  it('is what the code generates (run `npm run schema` after changing the API)', async () => {
    expect(readFileSync(join(root, 'schema.graphql'), 'utf8')).toBe(await printSchemaSdl());
  });
});

describe('src/worker-sdk/generated/operations.ts', () => {
  it('is what codegen makes of schema.graphql and the SDK operations (run `npm run codegen`)', async () => {
    expect(readFileSync(SDK_PATHS.output, 'utf8')).toBe(await generateSdkOperations());
  });
});

describe('migrations', () => {
  const db = testDataSource();
  let ds: DataSource;

  beforeAll(async () => {
    ds = await db.open();
  });
  afterAll(() => db.close());

  it('lists every migration file in migrations/index.ts, oldest first', () => {
    const files = readdirSync(join(root, 'migrations'))
      .filter((f) => /^\d+-.+\.ts$/.test(f))
      .sort();
    const names = MIGRATIONS.map((m) => new m().name ?? m.name);
    expect(names).toHaveLength(files.length);
    expect(files.map((f) => f.replace(/^(\d+)-(.+)\.ts$/, '$2$1'))).toEqual(names);
  });

  it('bring a fresh database exactly to what the entities describe (no drift)', async () => {
    await runMigrations(ds);
    const { up } = await pendingSchemaChanges(ds);
    expect(up, 'entities changed without a migration: run `npm run migration:generate -- <Name>`').toEqual([]);
  });

  it('are idempotent at start-up (a second run applies nothing) and can be reverted', async () => {
    expect(await runMigrations(ds)).toEqual([]);
    for (let i = 0; i < MIGRATIONS.length; i++) await ds.undoLastMigration();
    const { up } = await pendingSchemaChanges(ds);
    expect(up.length).toBeGreaterThan(0);
    expect(await runMigrations(ds)).toHaveLength(MIGRATIONS.length);
  });
});
