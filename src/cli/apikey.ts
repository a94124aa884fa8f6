/**
 * API keys straight in the database, for bootstrapping the first (admin) key:
 * `npm run apikey -- create --tenant <t> [--name <label>] [--admin]` prints a new key once;
 * `npm run apikey -- list [--tenant <t>]`; `npm run apikey -- revoke <id>`.
 *
 * It opens the database the configuration names, so on the embedded database it works only while
 * no conductor holds it: with a conductor running, use `maestro apikey …`, which goes through the
 * conductor's API. It needs no REDIS_URL (it only touches the database); with one, running
 * conductors hear of a revocation at once.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { RedisEventBus } from '../events/redis-event-bus';
import { systemClock } from '../domain/clock';
import { DomainError } from '../domain/errors';
import { AuthService } from '../services/auth.service';
import { openDatabase } from './open-database';

const USAGE = `usage:
  npm run apikey -- create --tenant <tenant> [--name <label>] [--admin]
  npm run apikey -- list [--tenant <tenant>]
  npm run apikey -- revoke <key id>
With a conductor running (on the embedded database it holds the data): npx maestro apikey --help`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { tenant: { type: 'string' }, name: { type: 'string' }, admin: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  const [command, arg] = positionals;
  if (values.help || !command || !['create', 'list', 'revoke'].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  if (command === 'create' && !values.tenant) {
    console.error('create needs --tenant <tenant>\n' + USAGE);
    return 2;
  }
  if (command === 'revoke' && !arg) {
    console.error('revoke needs the id of the key (see `list`)\n' + USAGE);
    return 2;
  }
  const config = loadConfig(process.env, { databaseOnly: true });
  const { db, close } = await openDatabase(config);
  try {
    const auth = new AuthService({
      db,
      clock: systemClock,
      allowAnonymous: false,
      // With Redis, running conductors hear of the revocation at once (cached credentials dropped,
      // the key's WebSockets closed); without it they notice within seconds from the database.
      announceRevoked: async (ids) => {
        if (!config.redisUrl) return;
        const bus = await RedisEventBus.connect(config.redisUrl, config.redisKeyPrefix);
        try {
          await bus.announceRevoked(ids);
        } finally {
          await bus.close();
        }
      },
    });
    if (command === 'create') {
      const { key, row } = await auth.createKey(values.tenant!, values.name ?? null, { admin: values.admin ?? false });
      console.log(`Created ${row.admin ? 'admin ' : ''}API key ${row.id} for tenant "${row.tenantId}". It is shown only this once:\n\n${key}\n`);
      console.log(`Use it as:  Authorization: Bearer ${key}`);
    } else if (command === 'list') {
      for (const k of await auth.listKeys(values.tenant ?? null)) {
        console.log(
          `${k.id}  tenant=${k.tenantId}  prefix=${k.prefix}…  name=${k.name ?? '-'}${k.admin ? '  admin' : ''}  created=${k.createdAt.toISOString()}${k.revokedAt ? `  REVOKED ${k.revokedAt.toISOString()}` : ''}`,
        );
      }
    } else {
      const ok = await auth.revokeKey(arg!);
      console.log(ok ? `Revoked ${arg}.` : `Key ${arg} was already revoked.`);
    }
    return 0;
  } finally {
    await close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const message = e instanceof DomainError || e instanceof Error ? e.message : String(e);
    // The embedded database is held by the running conductor: its API can mint keys instead.
    const hint = /in use by another conductor process/.test(message)
      ? '\nWith the conductor running, go through it: npx maestro apikey create --tenant <tenant>'
      : '';
    console.error(message + hint);
    process.exit(1);
  },
);
