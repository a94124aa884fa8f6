import type { MigrationInterface, QueryRunner } from 'typeorm';

export class TenantQueuedIndex1796049589118 implements MigrationInterface {
  name = 'TenantQueuedIndex1796049589118';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_tasks_tenant_queued" ON "tasks"  ("tenantId") WHERE "status" = 'QUEUED'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_tenant_queued"`);
  }
}
