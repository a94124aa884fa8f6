/**
 * Writes a new migration with what the entities need beyond the existing migrations.
 * Runs on a throwaway in-memory PGlite, so it needs no database: `npm run migration:generate -- AddFoo`.
 * Review the file, then it is never edited once it lands.
 */
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDataSource, runMigrations } from '../store/data-source';
import { startEmbeddedPostgres } from '../store/embedded';
import { pendingSchemaChanges } from '../store/schema-diff';

async function main(): Promise<void> {
  const name = process.argv[2];
  if (!name || !/^[A-Z][A-Za-z0-9]*$/.test(name)) {
    console.error('usage: npm run migration:generate -- <PascalCaseName>');
    process.exit(2);
  }
  const pg = await startEmbeddedPostgres('memory://');
  const ds = createDataSource({ url: pg.url, poolSize: 1 });
  await ds.initialize();
  try {
    await runMigrations(ds);
    const { up, down } = await pendingSchemaChanges(ds);
    if (up.length === 0) {
      console.log('No changes: entities and migrations agree.');
      return;
    }
    const timestamp = Date.now();
    const className = `${name}${timestamp}`;
    const esc = (q: string) => q.replace(/\\/g, '\\\\').replace(/`/g, '\\`');
    const body = `import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ${className} implements MigrationInterface {
  name = '${className}';

  public async up(queryRunner: QueryRunner): Promise<void> {
${up.map((q) => `    await queryRunner.query(\`${esc(q)}\`);`).join('\n')}
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
${down
  .slice()
  .reverse()
  .map((q) => `    await queryRunner.query(\`${esc(q)}\`);`)
  .join('\n')}
  }
}
`;
    const dir = join(__dirname, '..', '..', 'migrations');
    const file = `${timestamp}-${name}`;
    writeFileSync(join(dir, `${file}.ts`), body);
    const indexPath = join(dir, 'index.ts');
    let index = readFileSync(indexPath, 'utf8');
    index = `import { ${className} } from './${file}';\n` + index;
    index = index.replace(/= \[(.*)\];/s, (_m, list: string) => {
      const items = list
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      items.push(className);
      return `= [${items.join(', ')}];`;
    });
    writeFileSync(indexPath, index);
    console.log(`Wrote migrations/${file}.ts (${up.length} statements); review it before committing.`);
  } finally {
    await ds.destroy();
    await pg.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
