import 'reflect-metadata';
import { loadConfig, type Config } from '../config';
import { createDataSource, runMigrations } from '../store/data-source';
import { startEmbeddedPostgres } from '../store/embedded';
import { Database } from '../store/sql';

/** The database the configuration names (embedded when DATABASE_URL is unset), migrated. For CLIs. */
export async function openDatabase(config: Config = loadConfig()): Promise<{ db: Database; close(): Promise<void> }> {
  const embedded = config.databaseUrl ? null : await startEmbeddedPostgres(config.dataDir);
  const dataSource = createDataSource({ url: config.databaseUrl ?? embedded!.url, poolSize: embedded ? 1 : 2, applicationName: 'maestro:cli' });
  try {
    await dataSource.initialize();
    await runMigrations(dataSource);
  } catch (e: unknown) {
    await dataSource.destroy().catch(() => undefined);
    await embedded?.stop();
    throw e;
  }
  return {
    db: new Database(dataSource),
    async close() {
      await dataSource.destroy();
      await embedded?.stop();
    },
  };
}
