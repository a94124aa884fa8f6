import { Field, ID, Int, ObjectType } from 'type-graphql';
import type { EventReceipt as DomainEventReceipt } from '../../services/events.service';
import type { WebhookSecretRecord } from '../../store/webhook-secrets.store';
import { DateTimeScalar } from '../scalars';

@ObjectType({ simpleResolvers: true, description: 'A run an event started.' })
export class EventRun {
  @Field(() => ID, { description: 'The run (its `trigger` says EVENT or WEBHOOK, with this event).' })
  runId: string;

  @Field({ description: 'The workflow whose trigger matched.' })
  workflow: string;

  @Field(() => Int, { description: 'Its version: the latest when the event arrived.' })
  version: number;
}

@ObjectType({ simpleResolvers: true, description: 'A matching workflow that could not start a run of this event: its payload does not fit it.' })
export class EventRefusal {
  @Field({ description: 'The workflow whose trigger matched.' })
  workflow: string;

  @Field(() => Int, { description: 'Its version.' })
  version: number;

  @Field({ description: 'The error code startRun would have answered (BAD_USER_INPUT: the payload does not fit its inputSchema or templates).' })
  code: string;

  @Field({ description: 'What is wrong.' })
  message: string;
}

@ObjectType({ simpleResolvers: true, description: 'What an event did: its id, whether it was seen before, and the runs it started.' })
export class EventReceipt {
  @Field({ description: 'The event id: the one given, or the one assigned (a UUID).' })
  eventId: string;

  @Field({ description: 'The event name.' })
  name: string;

  @Field({ description: 'The id had been received before: nothing new started; `runs` are the runs it started then.' })
  duplicate: boolean;

  @Field(() => DateTimeScalar, { description: 'When the id was first received.' })
  receivedAt: Date;

  @Field(() => [EventRun], {
    description: 'One run per matching workflow (latest version declaring a trigger of the name whose filter holds), by workflow name.',
  })
  runs: EventRun[];

  @Field(() => [EventRefusal], { description: 'Matching workflows whose run could not start with this payload; empty normally.' })
  refused: EventRefusal[];
}

@ObjectType({ simpleResolvers: true, description: 'A secret that signs webhooks of the tenant (its value is shown only when created).' })
export class WebhookSecret {
  @Field(() => ID, { description: 'The id revokeWebhookSecret takes (a UUID).' })
  id: string;

  @Field(() => String, { nullable: true, description: 'A label for people; null when none.' })
  name: string | null;

  @Field({ description: 'The first characters of the secret, to tell secrets apart.' })
  prefix: string;

  @Field(() => DateTimeScalar, { description: 'When it was created.' })
  createdAt: Date;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When it was revoked (it verifies nothing since); null: in use.' })
  revokedAt: Date | null;
}

@ObjectType({ simpleResolvers: true, description: 'A new webhook secret and its value, shown this once.' })
export class CreatedWebhookSecret {
  @Field({ description: 'The secret (`whsec_…`): the HMAC-SHA256 key of webhook signatures. Store it now: it is never shown again.' })
  secret: string;

  @Field(() => WebhookSecret, { description: 'The secret as listings show it (without its value).' })
  webhookSecret: WebhookSecret;
}

export function toEventReceipt(r: DomainEventReceipt): EventReceipt {
  return { eventId: r.eventId, name: r.name, duplicate: r.duplicate, receivedAt: r.receivedAt, runs: r.runs, refused: r.refused };
}

export function toWebhookSecret(r: WebhookSecretRecord): WebhookSecret {
  return { id: r.id, name: r.name, prefix: r.prefix, createdAt: r.createdAt, revokedAt: r.revokedAt };
}
