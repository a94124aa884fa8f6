import { Field, ID, ObjectType } from 'type-graphql';
import type { ApiKeyRow } from '../../store/api-keys.store';
import { DateTimeScalar } from '../scalars';

@ObjectType({ simpleResolvers: true, description: 'An API key, without its secret: the key itself is shown once, by createApiKey.' })
export class ApiKey {
  @Field(() => ID, { description: 'The id of the key (a UUID): revokeApiKey takes it.' })
  id: string;

  @Field({ description: 'The tenant whose data the key reaches.' })
  tenant: string;

  @Field(() => String, { nullable: true, description: 'The label given at creation; null when none.' })
  name: string | null;

  @Field({ description: 'The first characters of the key, to tell keys apart without revealing them.' })
  prefix: string;

  @Field({ description: 'The key may also manage the API keys of every tenant.' })
  admin: boolean;

  @Field(() => DateTimeScalar, { description: 'When the key was created.' })
  createdAt: Date;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When the key was revoked; null while it is active.' })
  revokedAt: Date | null;
}

@ObjectType({ simpleResolvers: true, description: 'A new API key: the secret is shown only in this answer.' })
export class CreatedApiKey {
  @Field({ description: 'The key to send as `Authorization: Bearer <key>` (or MAESTRO_API_KEY). It is stored only as a hash: keep it now.' })
  key: string;

  @Field(() => ApiKey, { description: 'The stored key.' })
  apiKey: ApiKey;
}

export function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    tenant: row.tenantId,
    name: row.name,
    prefix: row.prefix,
    admin: row.admin,
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
  };
}
