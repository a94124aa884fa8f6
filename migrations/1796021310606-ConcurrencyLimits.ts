import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ConcurrencyLimits1796021310606 implements MigrationInterface {
  name = 'ConcurrencyLimits1796021310606';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "run_concurrency" ("runId" uuid NOT NULL, "seq" BIGSERIAL NOT NULL, "tenantId" character varying(128) NOT NULL, "groupKey" character varying(400) NOT NULL, "key" character varying(256) NOT NULL, "max" integer NOT NULL, "strategy" character varying(32) NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "admittedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_a5715393b50cc1dc5fe1b008a01" PRIMARY KEY ("runId"))`);
    await queryRunner.query(`CREATE INDEX "IDX_run_concurrency_waiting" ON "run_concurrency"  ("tenantId", "groupKey") WHERE "admittedAt" IS NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_run_concurrency_group" ON "run_concurrency"  ("tenantId", "groupKey", "seq") `);
    await queryRunner.query(`CREATE TABLE "concurrency_groups" ("tenantId" character varying(128) NOT NULL, "groupKey" character varying(400) NOT NULL, "lockedAt" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_879e76486fa8b1570fa57c41613" PRIMARY KEY ("tenantId", "groupKey"))`);
    await queryRunner.query(`CREATE TABLE "queue_limits" ("tenantId" character varying(128) NOT NULL, "queue" character varying(128) NOT NULL, "maxInFlight" integer NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_c05a0f035d35d128475b8c01f02" PRIMARY KEY ("tenantId", "queue"))`);
    await queryRunner.query(`CREATE TABLE "task_concurrency" ("taskId" uuid NOT NULL, "tenantId" character varying(128) NOT NULL, "groupKey" character varying(400) NOT NULL, "max" integer NOT NULL, CONSTRAINT "PK_fdbe7f3ebafa9de324047523297" PRIMARY KEY ("taskId"))`);
    await queryRunner.query(`CREATE INDEX "IDX_task_concurrency_group" ON "task_concurrency"  ("tenantId", "groupKey") `);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_running_queue" ON "tasks"  ("tenantId", "queue") WHERE "status" = 'RUNNING' AND "queue" IS NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_running_queue"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_task_concurrency_group"`);
    await queryRunner.query(`DROP TABLE "task_concurrency"`);
    await queryRunner.query(`DROP TABLE "queue_limits"`);
    await queryRunner.query(`DROP TABLE "concurrency_groups"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_run_concurrency_group"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_run_concurrency_waiting"`);
    await queryRunner.query(`DROP TABLE "run_concurrency"`);
  }
}
