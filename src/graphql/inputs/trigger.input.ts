import { Field, InputType } from 'type-graphql';

@InputType({ description: 'An event that starts a run of the workflow (its latest version), with the payload as the run input.' })
export class TriggerInput {
  @Field({
    description:
      'The event name (`publishEvent(name:)`, or `:name` of `POST /hooks/:tenant/:name`): 1 to 128 letters, digits, "_", ".", ":" or "-", starting with a letter.',
  })
  event: string;

  @Field(() => String, {
    nullable: true,
    description:
      'A CEL condition over `payload` (the event payload) that must hold for the run to start, e.g. `payload.amount > 100 && payload.currency == "EUR"`; ' +
      'it must yield a bool and is type-checked at registration (BAD_USER_INPUT, reason INVALID_TRIGGER_FILTER, `extensions.field` `on[i].filter`). ' +
      'A payload it fails on (a missing key: test it with `has(payload.x)`) does not match. At most 4096 characters. Default: none, every event of the name.',
  })
  filter?: string | null;
}
