import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import type { Context } from '../context';
import { JSONScalar } from '../scalars';
import { CreatedWebhookSecret, EventReceipt, toEventReceipt, toWebhookSecret, WebhookSecret } from '../types/event.type';

@Resolver()
export class EventResolver {
  @Mutation(() => EventReceipt, {
    description:
      'Publishes an event: starts one run of every workflow of the tenant whose latest version declares a trigger (`on`) of this name whose filter holds, ' +
      'with the payload as the run input (null: `{}`), `Run.trigger` EVENT. The same `id` again starts nothing new and answers the first runs (`duplicate` true), ' +
      'also when both arrive at once on different replicas. BAD_USER_INPUT for an invalid name or id; LIMIT_EXCEEDED for a payload over MAX_INPUT_BYTES or ' +
      'deeper than MAX_JSON_DEPTH, or more than 100 matching workflows (MAX_RUNS_PER_EVENT); CONFLICT (reason EVENT_ID_REUSED) for an id used with another name or payload; ' +
      'QUOTA_EXCEEDED when the runs would exceed TENANT_MAX_ACTIVE_RUNS (publish the same id again later: it starts the runs not yet started).',
  })
  async publishEvent(
    @Arg('name', () => String, { description: 'The event name: 1 to 128 letters, digits, "_", ".", ":" or "-", starting with a letter.' }) name: string,
    @Arg('payload', () => JSONScalar, {
      nullable: true,
      description: 'Any JSON: the input of the runs it starts, and what trigger filters read. Default null.',
    })
    payload: Json | undefined,
    @Arg('id', () => String, {
      nullable: true,
      description: 'Unique per tenant: 1 to 128 printable ASCII characters without spaces. Default: a new UUID (no deduplication).',
    })
    id: string | null | undefined,
    @Ctx() ctx: Context,
  ): Promise<EventReceipt> {
    return toEventReceipt(await ctx.services.events.publish(ctx.tenantId, { name, payload: payload ?? null, id: id ?? null }));
  }

  @Mutation(() => CreatedWebhookSecret, {
    description:
      'Creates a secret that signs webhooks (`POST /hooks/:tenant/:name`, see the README) and returns it once. Several may be in use at once (rotation): ' +
      'at most 5, LIMIT_EXCEEDED beyond; revoke the old one after the sender switched.',
  })
  async createWebhookSecret(
    @Arg('name', () => String, { nullable: true, description: 'A label for people, 1 to 128 characters. Default: none.' }) name: string | null | undefined,
    @Ctx() ctx: Context,
  ): Promise<CreatedWebhookSecret> {
    const { secret, record } = await ctx.services.webhookSecrets.create(ctx.tenantId, name ?? null);
    return { secret, webhookSecret: toWebhookSecret(record) };
  }

  @Mutation(() => WebhookSecret, {
    description: 'Revokes a webhook secret: signatures made with it are refused from now on. Revoking twice keeps the first time. NOT_FOUND for an unknown id.',
  })
  async revokeWebhookSecret(@Arg('id', () => ID, { description: 'The secret id.' }) id: string, @Ctx() ctx: Context): Promise<WebhookSecret> {
    return toWebhookSecret(await ctx.services.webhookSecrets.revoke(ctx.tenantId, id));
  }

  @Query(() => [WebhookSecret], { description: "The tenant's webhook secrets, newest first (revoked ones too), at most 100; never their values." })
  async webhookSecrets(@Ctx() ctx: Context): Promise<WebhookSecret[]> {
    return (await ctx.services.webhookSecrets.list(ctx.tenantId)).map(toWebhookSecret);
  }
}
