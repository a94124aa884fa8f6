import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One step rate-limit key of a tenant: its GCRA state (src/domain/rate-limits.ts). Locked and
 * updated in the claim transaction (src/store/rate-limits.store.ts), so every replica shares it.
 */
@Entity({ name: 'rate_limits' })
export class RateLimitEntity {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  tenantId: string;

  @PrimaryColumn({ type: 'varchar', length: 256 })
  key: string;

  /** Theoretical arrival time in epoch milliseconds (fractional: T = periodMs / limit need not be whole). */
  @Column({ type: 'double precision' })
  tatMs: number;
}
