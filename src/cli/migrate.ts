/** `npm run migrate`: applies pending migrations to the configured database and exits. */
import { ConfigError } from '../config';
import { openDatabase } from './open-database';

openDatabase()
  .then(async ({ close }) => {
    await close();
    console.log('Migrations are up to date.');
  })
  .catch((e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `Migration failed: ${(e as Error).message}`);
    process.exit(1);
  });
