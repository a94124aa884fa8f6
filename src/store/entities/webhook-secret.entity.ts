import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A tenant's webhook signing secret. Kept as is, unlike API keys (kept as a hash): verifying an
 * HMAC needs the secret itself. Whoever reads this table can sign webhooks for its tenants; it
 * grants nothing else (no API access). Revoked secrets stay listed, verifying nothing.
 */
@Entity({ name: 'webhook_secrets' })
@Index('IDX_webhook_secrets_tenant', ['tenantId'])
export class WebhookSecretEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  name: string | null;

  @Column({ type: 'varchar', length: 128 })
  secret: string;

  /** The first characters, to tell secrets apart in listings. */
  @Column({ type: 'varchar', length: 16 })
  prefix: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null;
}
