import type { MigrationInterface, QueryRunner } from 'typeorm';

export class EventsWebhooks1796022361915 implements MigrationInterface {
  name = 'EventsWebhooks1796022361915';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "events" ("tenantId" character varying(128) NOT NULL, "id" character varying(128) NOT NULL, "name" character varying(128) NOT NULL, "source" character varying(16) NOT NULL, "payloadHash" character varying(64) NOT NULL, "receivedAt" TIMESTAMP WITH TIME ZONE NOT NULL, "matched" jsonb NOT NULL, "outcome" jsonb, "completedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_c906e53437a66b8b5923b6e1647" PRIMARY KEY ("tenantId", "id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_events_received" ON "events"  ("receivedAt") `);
    await queryRunner.query(`CREATE TABLE "webhook_secrets" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "tenantId" character varying(128) NOT NULL, "name" character varying(128), "secret" character varying(128) NOT NULL, "prefix" character varying(16) NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "revokedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_50b998e9fcc99aa3e0d8123c154" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_webhook_secrets_tenant" ON "webhook_secrets"  ("tenantId") `);
    await queryRunner.query(`CREATE TABLE "workflow_triggers" ("tenantId" character varying(128) NOT NULL, "workflowName" character varying(128) NOT NULL, "position" integer NOT NULL, "eventName" character varying(128) NOT NULL, "filter" text, "workflowId" uuid NOT NULL, "workflowVersion" integer NOT NULL, CONSTRAINT "PK_3a8e4dbc115a56367d16ca65f04" PRIMARY KEY ("tenantId", "workflowName", "position"))`);
    await queryRunner.query(`CREATE INDEX "IDX_workflow_triggers_event" ON "workflow_triggers"  ("tenantId", "eventName") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_workflow_triggers_event"`);
    await queryRunner.query(`DROP TABLE "workflow_triggers"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_webhook_secrets_tenant"`);
    await queryRunner.query(`DROP TABLE "webhook_secrets"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_events_received"`);
    await queryRunner.query(`DROP TABLE "events"`);
  }
}
