/** `npm run schema`: writes schema.graphql from the code (checked in; a test fails when they differ). */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printSchemaSdl } from '../graphql/schema';

printSchemaSdl().then(
  (sdl) => {
    writeFileSync(join(__dirname, '..', '..', 'schema.graphql'), sdl);
    console.log('Wrote schema.graphql');
  },
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
