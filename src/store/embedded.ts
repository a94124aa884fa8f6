import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { lock } from 'proper-lockfile';

export interface EmbeddedPostgres {
  /** A postgres:// URL the ordinary `pg` driver connects to. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Embedded Postgres for the single-node default: PGlite behind its socket server, so TypeORM
 * and `pg` take the same code path as with a real server.
 *
 * PGlite is one session. Its socket server multiplexes connections message by message, so two
 * clients' extended-protocol messages could interleave; callers must use a pool of ONE connection.
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const memory = dataDir.startsWith('memory://');
  const dir = memory ? dataDir : resolve(dataDir);
  let release: (() => Promise<void>) | null = null;
  if (!memory) {
    mkdirSync(dir, { recursive: true });
    // PGlite is one process's database: a second process opening the same folder corrupts it.
    try {
      release = await lock(dir, { stale: 10_000, update: 2_000, lockfilePath: `${dir}.lock` });
    } catch (e: unknown) {
      if ((e as { code?: string }).code === 'ELOCKED') {
        throw new Error(
          `The embedded database in ${dataDir} is in use by another conductor process. Stop it, or set MAESTRO_DATA_DIR to another folder (or DATABASE_URL to a Postgres server).`,
          { cause: e },
        );
      }
      throw e;
    }
  }
  let db: PGlite;
  try {
    db = await PGlite.create(dir);
  } catch (e: unknown) {
    await release?.();
    throw e;
  }
  // Room for a reconnect while a dropped connection is still being torn down.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 4 });
  let port = 0;
  server.addEventListener('listening', (event) => {
    port = (event as CustomEvent<{ port: number }>).detail.port;
  });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
      await release?.();
    },
  };
}
