import type { MigrationInterface, QueryRunner } from 'typeorm';

export class BuiltInClaimIndexes1796032774430 implements MigrationInterface {
  name = 'BuiltInClaimIndexes1796032774430';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_tasks_ready_http" ON "tasks"  ("tenantId", "priority", "availableAt") WHERE "status" = 'QUEUED' AND "queue" IS NULL AND "type" = 'http'`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_ready_builtin" ON "tasks"  ("tenantId", "priority", "availableAt") WHERE "status" = 'QUEUED' AND "queue" IS NULL AND "type" NOT IN ('http', 'workflow')`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_ready_builtin"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_ready_http"`);
  }
}
