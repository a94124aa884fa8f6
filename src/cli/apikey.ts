/**
 * API keys: `npm run apikey -- create --tenant <t> [--name <label>]` prints a new key once;
 * `npm run apikey -- list [--tenant <t>]`; `npm run apikey -- revoke <id>`.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { RedisEventBus } from '../events/redis-event-bus';
import { systemClock } from '../domain/clock';
import { DomainError } from '../domain/errors';
import { AuthService } from '../services/auth.service';
import { openDatabase } from './open-database';

const USAGE = `usage:
  npm run apikey -- create --tenant <tenant> [--name <label>]
  npm run apikey -- list [--tenant <tenant>]
  npm run apikey -- revoke <key id>`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { tenant: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  const config = loadConfig();
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
      const { key, row } = await auth.createKey(values.tenant!, values.name ?? null);
      console.log(`Created API key ${row.id} for tenant "${row.tenantId}". It is shown only this once:\n\n${key}\n`);
      console.log(`Use it as:  Authorization: Bearer ${key}`);
    } else if (command === 'list') {
      for (const k of await auth.listKeys(values.tenant ?? null)) {
        console.log(
          `${k.id}  tenant=${k.tenantId}  prefix=${k.prefix}…  name=${k.name ?? '-'}  created=${k.createdAt.toISOString()}${k.revokedAt ? `  REVOKED ${k.revokedAt.toISOString()}` : ''}`,
        );
      }
    } else {
      const ok = await auth.revokeKey(arg!);
      console.log(ok ? `Revoked ${arg}.` : `No active key ${arg}.`);
      if (!ok) return 1;
    }
    return 0;
  } finally {
    await close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof DomainError || e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
