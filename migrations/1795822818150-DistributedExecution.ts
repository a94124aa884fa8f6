import type { MigrationInterface, QueryRunner } from 'typeorm';

export class DistributedExecution1795822818150 implements MigrationInterface {
  name = 'DistributedExecution1795822818150';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "task_attempts" ("taskId" uuid NOT NULL, "fence" bigint NOT NULL, "attempt" integer NOT NULL, "runId" uuid NOT NULL, "tenantId" character varying(128) NOT NULL, "workerId" character varying(256) NOT NULL, "startedAt" TIMESTAMP WITH TIME ZONE NOT NULL, "finishedAt" TIMESTAMP WITH TIME ZONE, "outcome" character varying(16), "error" text, CONSTRAINT "PK_e1c748807991c59ef6a6aec2ccf" PRIMARY KEY ("taskId", "fence"))`);
    await queryRunner.query(`CREATE INDEX "IDX_task_attempts_run" ON "task_attempts"  ("runId") `);
    await queryRunner.query(`ALTER TABLE "runs" ADD "traceparent" character varying(128)`);
    await queryRunner.query(`ALTER TABLE "runs" ADD "deadlineAt" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "deadlineAt" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`CREATE INDEX "IDX_runs_active" ON "runs"  ("status") WHERE "status" IN ('PENDING', 'RUNNING')`);
    await queryRunner.query(`CREATE INDEX "IDX_runs_deadline" ON "runs"  ("deadlineAt") WHERE "deadlineAt" IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_running" ON "tasks"  ("startedAt") WHERE "status" = 'RUNNING'`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_deadline" ON "tasks"  ("deadlineAt") WHERE "deadlineAt" IS NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_deadline"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_running"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_deadline"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_active"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "deadlineAt"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "deadlineAt"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "traceparent"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_task_attempts_run"`);
    await queryRunner.query(`DROP TABLE "task_attempts"`);
  }
}
