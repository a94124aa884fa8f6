import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { UnauthenticatedError } from '../../domain/errors';
import type { Principal } from '../../services/auth.service';
import type { Context } from '../context';
import { ApiKey, CreatedApiKey, toApiKey } from '../types/api-key.type';

const ADMIN_ONLY =
  'Admin only: an API key created with `admin`, or any caller in development mode (NODE_ENV other than production, where no key is needed); ' +
  'FORBIDDEN (reason ADMIN_REQUIRED) for any other key.';

/** API-key management through the running conductor (the `maestro apikey` commands). */
@Resolver(() => ApiKey)
export class ApiKeyResolver {
  @Mutation(() => CreatedApiKey, {
    description: `Creates an API key for a tenant; the secret is in this answer only. ${ADMIN_ONLY} BAD_USER_INPUT for a tenant that is not 1 to 128 letters, digits, ".", "_" or "-", or a name that is not 1 to 128 characters.`,
  })
  async createApiKey(
    @Arg('tenant', { description: 'The tenant whose data the key reaches: 1 to 128 letters, digits, ".", "_" or "-".' }) tenant: string,
    @Arg('name', () => String, { nullable: true, description: 'A label for listings, 1 to 128 characters. Default: none.' }) name: string | null,
    @Arg('admin', () => Boolean, { nullable: true, description: 'The key may also manage API keys. Default false.' }) admin: boolean | null,
    @Ctx() ctx: Context,
  ): Promise<CreatedApiKey> {
    ctx.services.auth.requireAdmin(principalOf(ctx));
    const { key, row } = await ctx.services.auth.createKey(tenant, name ?? null, { admin: admin ?? false });
    return { key, apiKey: toApiKey(row) };
  }

  @Query(() => [ApiKey], { description: `The API keys, revoked ones included, oldest first. ${ADMIN_ONLY}` })
  async apiKeys(
    @Arg('tenant', () => String, { nullable: true, description: "Only this tenant's keys. Default: every tenant's." }) tenant: string | null,
    @Ctx() ctx: Context,
  ): Promise<ApiKey[]> {
    ctx.services.auth.requireAdmin(principalOf(ctx));
    return (await ctx.services.auth.listKeys(tenant ?? null)).map(toApiKey);
  }

  @Mutation(() => ApiKey, {
    description:
      'Revokes an API key: every replica refuses it within moments and closes its open WebSockets. An already revoked key is returned unchanged. ' +
      `${ADMIN_ONLY} BAD_USER_INPUT (reason NOT_A_KEY_ID) when the id is not a key id (a UUID); NOT_FOUND when no key has it.`,
  })
  async revokeApiKey(@Arg('id', () => ID, { description: 'The id of the key (`apiKeys` lists them).' }) id: string, @Ctx() ctx: Context): Promise<ApiKey> {
    ctx.services.auth.requireAdmin(principalOf(ctx));
    await ctx.services.auth.revokeKey(id);
    return toApiKey(await ctx.services.auth.getKey(id));
  }
}

function principalOf(ctx: Context): Principal {
  if (!ctx.principal) throw new UnauthenticatedError('This operation needs the credentials of the caller');
  return ctx.principal;
}
