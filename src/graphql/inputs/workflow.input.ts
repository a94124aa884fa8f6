import { Field, Float, InputType, Int } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import { JSONScalar } from '../scalars';
import { TriggerInput } from './trigger.input';
import { ConcurrencyInput } from '../types/concurrency.type';

@InputType({ description: 'Omitted fields take their defaults: 3 attempts, 1000 ms, ×2, 60000 ms, 10 faults.' })
export class RetryPolicyInput {
  @Field(() => Int, {
    nullable: true,
    description: "Attempts that may end in the step's own failure (failTask, a step timeout), the first included, 1 to 100. Default 3.",
  })
  maxAttempts?: number | null;

  @Field(() => Int, { nullable: true, description: 'Delay before the second attempt in milliseconds, 0 to 604800000 (7 days). Default 1000.' })
  initialDelayMs?: number | null;

  @Field(() => Float, { nullable: true, description: 'Multiplier of the delay for each further attempt, at least 1 (1 keeps it constant). Default 2.' })
  backoffFactor?: number | null;

  @Field(() => Int, { nullable: true, description: 'Bound of every delay in milliseconds, from initialDelayMs to 604800000 (7 days). Default 60000.' })
  maxDelayMs?: number | null;

  @Field(() => Int, {
    nullable: true,
    description:
      'Faults of the system a task survives, 0 to 1000: an expired lease (a worker or conductor replica died or froze) queues it again at once ' +
      'without spending one of maxAttempts; the fault after these fails it. Default 10.',
  })
  maxFaults?: number | null;
}

@InputType({ description: 'At most `limit` tasks per `periodMs` per key: tasks over it wait QUEUED (waitingFor RATE_LIMIT), they are not failed.' })
export class RateLimitInput {
  @Field({
    description:
      'Tasks sharing a key share the limit, across steps, runs, queues and replicas of the tenant. A CEL expression over `input`, `steps.<dependency>.output`, ' +
      'and in a forEach step `item` and `index`, yielding a string (e.g. `input.customerId`), evaluated when the task is queued; or a plain name such as ' +
      '`openai` or `api.example.com` (letters, digits, "_", ".", ":", "/", "-", not starting with input, steps, item or index), taken literally. ' +
      'Type-checked at registration (BAD_USER_INPUT, reason INVALID_RATE_LIMIT). A key that cannot be evaluated fails the task at once.',
  })
  key: string;

  @Field(() => Int, { description: 'Tasks that may start per period, 1 to 1000000; also how many may start at once after a quiet period.' })
  limit: number;

  @Field(() => Int, { description: 'The period in milliseconds, 1 to 86400000 (1 day). After a burst of `limit`, one task starts every periodMs / limit.' })
  periodMs: number;
}

@InputType({ description: 'One step of a workflow definition: a node of its DAG.' })
export class StepInput {
  @Field({
    description:
      'Unique in the workflow: 1 to 64 letters, digits, "_" or "-", starting with a letter or "_". ' +
      "Other steps' templates read its output as `steps.<key>.output`.",
  })
  key: string;

  @Field({
    description: 'noop, sleep, http, or workflow (starts a child run; no queue); with `queue`, any label your workers understand (at most 128 characters).',
  })
  type: string;

  @Field(() => String, {
    nullable: true,
    description: 'Remote workers claiming from this queue execute the step: 1 to 128 letters, digits, "_", ".", ":" or "-". Default: none (a built-in step).',
  })
  queue?: string | null;

  @Field(() => [String], {
    nullable: true,
    description:
      'Keys of the steps that must be done (SUCCEEDED or SKIPPED) before this one starts (order and repeats do not matter). Default: none, it starts with the run.',
  })
  dependsOn?: string[] | null;

  @Field(() => JSONScalar, {
    nullable: true,
    description:
      'The step input, any JSON, with `{{ input.… }}` and `{{ steps.<dependency>.output.… }}` templates. ' +
      'noop: becomes the output; sleep: `{ "ms": n }`; http: `{ url, method, headers, body, timeoutMs }` (a `url` that is a path, such as `/healthz`, calls this conductor); workflow: `{ workflow, version?, input? }` (the child run and its input). Default `{}`.',
  })
  input?: Json;

  @Field(() => RetryPolicyInput, { nullable: true, description: 'How failed attempts are retried. Default: 3 attempts, 1 s then 2 s apart (±20%), 10 faults.' })
  retry?: RetryPolicyInput | null;

  @Field(() => Int, {
    nullable: true,
    description:
      'Bound of one attempt in milliseconds, 1 to 604800000 (7 days); past it the attempt is TIMED_OUT and retried by the policy. Default: no bound.',
  })
  timeoutMs?: number | null;

  @Field(() => String, {
    nullable: true,
    description:
      'A condition in CEL over `input` and `steps.<dependency>.output` (a skipped dependency reads as null), e.g. ' +
      '`steps.check.output.status == 200 && input.notify`; it must yield a bool and is type-checked at registration. Evaluated when the ' +
      'dependencies are done: false ends the task SKIPPED without running. JSON integers are CEL `int`, fractions `double`; test an ' +
      'optional key with `has(input.x)`. At most 4096 characters. Default: none, the step always runs.',
  })
  when?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Fan-out: a CEL expression over `input` and `steps.<dependency>.output` yielding a list (`"input.users.filter(u, u.active)"`), ' +
      'or a single `{{ … }}` template naming a JSON array (`"{{ steps.list.output.ids }}"`). ' +
      'The step runs once per item, each item a task of its own whose input may read `{{ item }}` and `{{ index }}`; its output is the ' +
      'array of item outputs in item order. At most MAX_FOREACH_ITEMS (default 10000) items. Default: none (one task).',
  })
  forEach?: string | null;

  @Field(() => Int, { nullable: true, description: 'With forEach: item tasks QUEUED or RUNNING at once, at least 1. Default: all of them.' })
  maxConcurrency?: number | null;

  @Field(() => Boolean, {
    nullable: true,
    description:
      'With forEach: an item that fails (after its retries) yields null and the step goes on; `Task.failedItems` lists them. Default false: it fails the step.',
  })
  continueOnItemFailure?: boolean | null;

  @Field(() => RateLimitInput, {
    nullable: true,
    description: "Bounds how often this step's tasks start, per key (GCRA, shared across replicas, decided in the claim transaction). Default: none.",
  })
  rateLimit?: RateLimitInput | null;

  @Field(() => Int, {
    nullable: true,
    description:
      "1 (low) to 3 (high): overrides the run's priority (startRun) for this step's tasks. BAD_USER_INPUT (reason INVALID_PRIORITY) out of range. Default: the run's.",
  })
  priority?: number | null;

  @Field(() => ConcurrencyInput, {
    nullable: true,
    description:
      "Bounds this step's tasks RUNNING at once per key (CEL over the run `input`), across all runs of the workflow: a task over the limit stays QUEUED " +
      'until one ends. QUEUE or ROUND_ROBIN; not on forEach steps (use maxConcurrency) nor workflow steps. Default: no bound.',
  })
  concurrency?: ConcurrencyInput | null;
}

@InputType({ description: 'A workflow definition to register: a name and a DAG of steps.' })
export class WorkflowInput {
  @Field({ description: 'The name, unique in the tenant: 1 to 128 letters, digits, "_", "." or "-", starting with a letter. Versions share it.' })
  name: string;

  @Field(() => String, { nullable: true, description: 'Free text for people; part of the definition (changing it registers a new version). Default: none.' })
  description?: string | null;

  @Field(() => JSONScalar, {
    nullable: true,
    description:
      'A JSON Schema (draft 2020-12) every run input must fit: startRun with an input that does not is BAD_USER_INPUT (reason INPUT_SCHEMA_VIOLATION, ' +
      '`extensions.errors`: [{ path, rule, message }]). Part of the definition (changing it registers a new version). At most 64 KiB (INPUT_SCHEMA_MAX_BYTES); ' +
      'no remote `$ref`; unknown keywords refused; `pattern` uses RE2 syntax (no lookaround or back-references). ' +
      'An invalid schema is BAD_USER_INPUT (reason INVALID_INPUT_SCHEMA). Default: none (any input).',
  })
  inputSchema?: Json | null;

  @Field(() => Int, {
    nullable: true,
    description:
      'Bound of a whole run, start to finish, in milliseconds, 1 to 604800000 (7 days); past it the run fails and unfinished tasks are cancelled. It counts from the start, time spent waiting for a concurrency slot included (a run that waits too long fails unadmitted). Default: no bound.',
  })
  timeoutMs?: number | null;

  @Field(() => ConcurrencyInput, {
    nullable: true,
    description:
      'Bounds the runs in flight per key; a run over the limit waits (`waitingFor` CONCURRENCY), or is cancelled, by the strategy. ' +
      'Part of the definition. BAD_USER_INPUT (reason INVALID_CONCURRENCY) for a bad max, strategy or key expression. Default: no bound.',
  })
  concurrency?: ConcurrencyInput | null;

  @Field(() => [StepInput], { description: '1 to MAX_STEPS_PER_WORKFLOW (default 256) steps with unique keys, whose dependencies form no cycle.' })
  steps: StepInput[];

  @Field(() => [TriggerInput], {
    nullable: true,
    description:
      'Events that start a run of this workflow (`publishEvent`, webhooks), at most 32; an event matching several triggers starts one run. ' +
      'Only the latest version counts: a version without a trigger stops its events from starting runs. Default: none.',
  })
  on?: TriggerInput[] | null;
}
