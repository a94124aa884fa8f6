import type { MigrationInterface, QueryRunner } from 'typeorm';

export class QueuePoll1796008663889 implements MigrationInterface {
  name = 'QueuePoll1796008663889';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "queue_poll" ("tenantId" character varying(128) NOT NULL, "queue" character varying(128) NOT NULL, "lastPolledAt" TIMESTAMP WITH TIME ZONE NOT NULL, "workerId" character varying(256) NOT NULL, CONSTRAINT "PK_0669043201f7d460fc427223820" PRIMARY KEY ("tenantId", "queue"))`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "queue_poll"`);
  }
}
