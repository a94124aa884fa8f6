import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Schedules1796023215947 implements MigrationInterface {
  name = 'Schedules1796023215947';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "schedules" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "tenantId" character varying(128) NOT NULL, "workflow" character varying(128) NOT NULL, "version" integer, "cron" character varying(256) NOT NULL, "timezone" character varying(64) NOT NULL, "input" jsonb, "overlap" character varying(16) NOT NULL, "paused" boolean NOT NULL DEFAULT false, "startAt" TIMESTAMP WITH TIME ZONE, "endAt" TIMESTAMP WITH TIME ZONE, "catchupWindowMs" integer NOT NULL, "nextFireAt" TIMESTAMP WITH TIME ZONE, "skippedCount" integer NOT NULL DEFAULT '0', "missedCount" integer NOT NULL DEFAULT '0', "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_7e33fc2ea755a5765e3564e66dd" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_schedules_tenant" ON "schedules"  ("tenantId", "id") `);
    await queryRunner.query(`CREATE INDEX "IDX_schedules_next_fire" ON "schedules"  ("nextFireAt") WHERE "nextFireAt" IS NOT NULL`);
    await queryRunner.query(`CREATE TABLE "schedule_fires" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "tenantId" character varying(128) NOT NULL, "scheduleId" uuid NOT NULL, "fireTime" TIMESTAMP WITH TIME ZONE NOT NULL, "source" character varying(16) NOT NULL, "status" character varying(16) NOT NULL, "runId" uuid, "error" text, "cancelPrevious" boolean NOT NULL DEFAULT false, "claimedUntil" TIMESTAMP WITH TIME ZONE, "settledAt" TIMESTAMP WITH TIME ZONE, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_e1e5ac3399587e0651ef476ae99" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_schedule_fires_unsettled" ON "schedule_fires"  ("scheduleId") WHERE "settledAt" IS NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_schedule_fires_open" ON "schedule_fires"  ("status", "fireTime") WHERE "status" IN ('PENDING', 'BUFFERED')`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_schedule_fires_time" ON "schedule_fires"  ("scheduleId", "fireTime") `);
    await queryRunner.query(`ALTER TABLE "schedule_fires" ADD CONSTRAINT "FK_2a8253ef477d6a446b304586ea9" FOREIGN KEY ("scheduleId") REFERENCES "schedules"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "schedule_fires" DROP CONSTRAINT "FK_2a8253ef477d6a446b304586ea9"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_schedule_fires_time"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_schedule_fires_open"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_schedule_fires_unsettled"`);
    await queryRunner.query(`DROP TABLE "schedule_fires"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_schedules_next_fire"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_schedules_tenant"`);
    await queryRunner.query(`DROP TABLE "schedules"`);
  }
}
