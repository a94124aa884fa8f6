import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RunTagsMetadata1796008981296 implements MigrationInterface {
  name = 'RunTagsMetadata1796008981296';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "runs" ADD "tags" jsonb NOT NULL DEFAULT '[]'`);
    await queryRunner.query(`ALTER TABLE "runs" ADD "metadata" jsonb NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`CREATE INDEX "IDX_runs_tenant_finished" ON "runs"  ("tenantId", "finishedAt") WHERE "finishedAt" IS NOT NULL`);
    // Written by hand (TypeORM cannot declare an operator class; the entity marks them synchronize: false).
    await queryRunner.query(`CREATE INDEX "IDX_runs_tags" ON "runs" USING gin ("tags" jsonb_path_ops)`);
    await queryRunner.query(`CREATE INDEX "IDX_runs_metadata" ON "runs" USING gin ("metadata" jsonb_path_ops)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_metadata"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_tags"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_tenant_finished"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "metadata"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "tags"`);
  }
}
