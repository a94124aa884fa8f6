import { Command } from 'commander';
import { action } from './context';
import { table } from './output';

const KEY_FIELDS = 'id tenant name prefix admin createdAt revokedAt';
const CREATE = `mutation MaestroCreateApiKey($tenant: String!, $name: String, $admin: Boolean) {
  createApiKey(tenant: $tenant, name: $name, admin: $admin) { key apiKey { ${KEY_FIELDS} } }
}`;
const LIST = `query MaestroApiKeys($tenant: String) { apiKeys(tenant: $tenant) { ${KEY_FIELDS} } }`;
const REVOKE = `mutation MaestroRevokeApiKey($id: ID!) { revokeApiKey(id: $id) { ${KEY_FIELDS} } }`;

interface ApiKeyJson {
  id: string;
  tenant: string;
  name: string | null;
  prefix: string;
  admin: boolean;
  createdAt: string;
  revokedAt: string | null;
}

const WHO =
  '\nThrough the running conductor: needs an admin key (--api-key / MAESTRO_API_KEY), or none in development mode.\n' +
  'The first admin key of a production install comes from the database directly: npm run apikey -- create --tenant <t> --admin';

export function apikeyCommands(): Command {
  const cmd = new Command('apikey').description('create, list and revoke API keys through the running conductor (admin only)').addHelpText('after', WHO);

  cmd
    .command('create')
    .description('create an API key for a tenant; the key is printed once')
    .requiredOption('--tenant <tenant>', 'the tenant whose data the key reaches')
    .option('--name <label>', 'a label for listings')
    .option('--admin', 'the key may also manage API keys')
    .action(
      action<[], { tenant: string; name?: string; admin?: boolean }>(async ({ api, out }, opts) => {
        const { createApiKey } = await api.request<{ createApiKey: { key: string; apiKey: ApiKeyJson } }>(CREATE, {
          tenant: opts.tenant,
          name: opts.name ?? null,
          admin: opts.admin ?? false,
        });
        out.result(
          createApiKey,
          ({ key, apiKey: k }) =>
            `Created ${k.admin ? 'admin ' : ''}API key ${k.id} for tenant "${k.tenant}". It is shown only this once:\n\n${key}\n\n` +
            `Use it as MAESTRO_API_KEY=${key} (or: Authorization: Bearer ${key})`,
        );
      }),
    );

  cmd
    .command('list')
    .description('list API keys (never their secrets), revoked ones included')
    .option('--tenant <tenant>', "only this tenant's keys")
    .action(
      action<[], { tenant?: string }>(async ({ api, out }, opts) => {
        const { apiKeys } = await api.request<{ apiKeys: ApiKeyJson[] }>(LIST, { tenant: opts.tenant ?? null });
        out.result(apiKeys, (keys) =>
          table(
            ['ID', 'TENANT', 'PREFIX', 'NAME', 'ADMIN', 'CREATED', 'REVOKED'],
            keys.map((k) => [k.id, k.tenant, `${k.prefix}…`, k.name ?? '-', k.admin ? 'yes' : '', k.createdAt, k.revokedAt ?? '']),
          ),
        );
      }),
    );

  cmd
    .command('revoke')
    .description('revoke an API key: every replica refuses it within moments')
    .argument('<id>', 'the key id (see apikey list)')
    .action(
      action<[string], object>(async ({ api, out }, _opts, id) => {
        const { revokeApiKey } = await api.request<{ revokeApiKey: ApiKeyJson }>(REVOKE, { id });
        out.result(revokeApiKey, (k) => `Revoked ${k.id} (tenant "${k.tenant}", ${k.prefix}…).`);
      }),
    );
  return cmd;
}
