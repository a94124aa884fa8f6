import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ChildRuns1796008886353 implements MigrationInterface {
  name = 'ChildRuns1796008886353';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "runs" ADD "parentRunId" uuid`);
    await queryRunner.query(`ALTER TABLE "runs" ADD "parentTaskId" uuid`);
    await queryRunner.query(`ALTER TABLE "runs" ADD "depth" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "childRunId" uuid`);
    await queryRunner.query(`CREATE INDEX "IDX_runs_active_children" ON "runs"  ("parentTaskId") WHERE "parentTaskId" IS NOT NULL AND "status" IN ('PENDING', 'RUNNING')`);
    await queryRunner.query(`CREATE INDEX "IDX_runs_parent" ON "runs"  ("parentRunId", "createdAt") WHERE "parentRunId" IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_child_waiting" ON "tasks"  ("childRunId") WHERE "status" = 'RUNNING' AND "childRunId" IS NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_child_waiting"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_parent"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_active_children"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "childRunId"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "depth"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "parentTaskId"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "parentRunId"`);
  }
}
