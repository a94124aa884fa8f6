import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Init1795820925254 implements MigrationInterface {
  name = 'Init1795820925254';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "api_keys" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "tenantId" character varying(128) NOT NULL, "name" character varying(128), "keyHash" character varying(64) NOT NULL, "prefix" character varying(16) NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "revokedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_5c8a79801b44bd27b79228e1dad" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_api_keys_hash" ON "api_keys"  ("keyHash") `);
    await queryRunner.query(`CREATE TABLE "run_events" ("runId" uuid NOT NULL, "seq" integer NOT NULL, "tenantId" character varying(128) NOT NULL, "workflowName" character varying(128) NOT NULL, "type" character varying(32) NOT NULL, "status" character varying(16) NOT NULL, "taskId" uuid, "taskKey" character varying(64), "attempt" integer, "data" jsonb, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_b3b2b3927bf54dcf9c9b3f6d1a4" PRIMARY KEY ("runId", "seq"))`);
    await queryRunner.query(`CREATE INDEX "IDX_run_events_tenant_created" ON "run_events"  ("tenantId", "createdAt") `);
    await queryRunner.query(`CREATE TABLE "workflows" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "tenantId" character varying(128) NOT NULL, "name" character varying(128) NOT NULL, "version" integer NOT NULL, "description" text, "definition" jsonb NOT NULL, "definitionHash" character varying(64) NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_5b5757cc1cd86268019fef52e0c" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_workflows_tenant_name_version" ON "workflows"  ("tenantId", "name", "version") `);
    await queryRunner.query(`CREATE TABLE "runs" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "tenantId" character varying(128) NOT NULL, "workflowId" uuid NOT NULL, "workflowName" character varying(128) NOT NULL, "workflowVersion" integer NOT NULL, "status" character varying(16) NOT NULL, "input" jsonb, "output" jsonb, "error" text, "idempotencyKey" character varying(256), "lastSeq" integer NOT NULL DEFAULT '0', "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "startedAt" TIMESTAMP WITH TIME ZONE, "finishedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_46d6a1e257c38ba58f1a3c30836" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_runs_tenant_status" ON "runs"  ("tenantId", "status") `);
    await queryRunner.query(`CREATE INDEX "IDX_runs_tenant_created" ON "runs"  ("tenantId", "createdAt", "id") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_runs_tenant_idempotency_key" ON "runs"  ("tenantId", "idempotencyKey") `);
    await queryRunner.query(`CREATE TABLE "tasks" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "tenantId" character varying(128) NOT NULL, "runId" uuid NOT NULL, "position" integer NOT NULL, "key" character varying(64) NOT NULL, "type" character varying(128) NOT NULL, "queue" character varying(128), "status" character varying(16) NOT NULL, "timeoutMs" integer, "attempt" integer NOT NULL DEFAULT '0', "fence" bigint NOT NULL DEFAULT '0', "input" jsonb, "output" jsonb, "error" text, "workerId" character varying(256), "availableAt" TIMESTAMP WITH TIME ZONE, "timerAt" TIMESTAMP WITH TIME ZONE, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "queuedAt" TIMESTAMP WITH TIME ZONE, "startedAt" TIMESTAMP WITH TIME ZONE, "finishedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_8d12ff38fcc62aaba2cab748772" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_timer" ON "tasks"  ("timerAt") WHERE "timerAt" IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_ready" ON "tasks"  ("queue", "availableAt") WHERE "status" = 'QUEUED'`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_tasks_run_key" ON "tasks"  ("runId", "key") `);
    await queryRunner.query(`ALTER TABLE "runs" ADD CONSTRAINT "FK_60dbb38b35058a3a5e828fa4025" FOREIGN KEY ("workflowId") REFERENCES "workflows"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD CONSTRAINT "FK_0b107098aeecbbd282b8141a3c6" FOREIGN KEY ("runId") REFERENCES "runs"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" DROP CONSTRAINT "FK_0b107098aeecbbd282b8141a3c6"`);
    await queryRunner.query(`ALTER TABLE "runs" DROP CONSTRAINT "FK_60dbb38b35058a3a5e828fa4025"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_tasks_run_key"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_ready"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_timer"`);
    await queryRunner.query(`DROP TABLE "tasks"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_runs_tenant_idempotency_key"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_tenant_created"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_runs_tenant_status"`);
    await queryRunner.query(`DROP TABLE "runs"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_workflows_tenant_name_version"`);
    await queryRunner.query(`DROP TABLE "workflows"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_run_events_tenant_created"`);
    await queryRunner.query(`DROP TABLE "run_events"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_api_keys_hash"`);
    await queryRunner.query(`DROP TABLE "api_keys"`);
  }
}
