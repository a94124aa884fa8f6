import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RateLimitsPriorities1796020766469 implements MigrationInterface {
  name = 'RateLimitsPriorities1796020766469';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "rate_limits" ("tenantId" character varying(128) NOT NULL, "key" character varying(256) NOT NULL, "tatMs" double precision NOT NULL, CONSTRAINT "PK_be6a3a3d86e9ece38c1acba6cef" PRIMARY KEY ("tenantId", "key"))`);
    await queryRunner.query(`ALTER TABLE "runs" ADD "priority" integer NOT NULL DEFAULT '2'`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "priority" integer NOT NULL DEFAULT '2'`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "rateLimitKey" character varying(256)`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "rateLimitLimit" integer`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "rateLimitPeriodMs" integer`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "rateLimitedUntil" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_rate_limited" ON "tasks"  ("queue", "availableAt") WHERE "status" = 'QUEUED' AND "rateLimitKey" IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_ready_priority" ON "tasks"  ("queue", "priority", "availableAt") WHERE "status" = 'QUEUED'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_ready_priority"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_rate_limited"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "rateLimitedUntil"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "rateLimitPeriodMs"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "rateLimitLimit"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "rateLimitKey"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "priority"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "priority"`);
    await queryRunner.query(`DROP TABLE "rate_limits"`);
  }
}
