import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** An API key, stored only as its sha256: the key itself is shown once, when minted. */
@Entity({ name: 'api_keys' })
@Index('UQ_api_keys_hash', ['keyHash'], { unique: true })
export class ApiKeyEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 128 })
  tenantId: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  name: string | null;

  @Column({ type: 'varchar', length: 64 })
  keyHash: string;

  /** The first characters of the key, to tell keys apart in listings without revealing them. */
  @Column({ type: 'varchar', length: 16 })
  prefix: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  /** An admin key may also manage the API keys of every tenant (`createApiKey`, `apiKeys`, `revokeApiKey`). */
  @Column({ type: 'boolean', default: false })
  admin: boolean;
}
