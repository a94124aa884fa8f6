import type { MigrationInterface, QueryRunner } from 'typeorm';

export class SignalsAndPause1796009198911 implements MigrationInterface {
  name = 'SignalsAndPause1796009198911';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "signals" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "tenantId" character varying(128) NOT NULL, "runId" uuid NOT NULL, "name" character varying(128) NOT NULL, "payload" jsonb, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "seq" BIGSERIAL NOT NULL, "consumedByTaskId" uuid, "consumedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_04eeac09c09b65bc55c628c101d" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_signals_pending" ON "signals"  ("runId", "name", "seq") WHERE "consumedAt" IS NULL`);
    await queryRunner.query(`ALTER TABLE "runs" ADD "pausedAt" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "signalName" character varying(128)`);
    await queryRunner.query(`ALTER TABLE "signals" ADD CONSTRAINT "FK_5b4dafd3e7648584fe289b9ab57" FOREIGN KEY ("runId") REFERENCES "runs"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "signals" DROP CONSTRAINT "FK_5b4dafd3e7648584fe289b9ab57"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "signalName"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "pausedAt"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_signals_pending"`);
    await queryRunner.query(`DROP TABLE "signals"`);
  }
}
