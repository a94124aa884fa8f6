import type { MigrationInterface } from 'typeorm';

/** Every migration, oldest first. `npm run migration:generate -- <Name>` appends to this list. */
export const MIGRATIONS: (new () => MigrationInterface)[] = [];
