import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RetryFaultBudget1795997575674 implements MigrationInterface {
  name = 'RetryFaultBudget1795997575674';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" ADD "failures" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "faults" integer NOT NULL DEFAULT '0'`);
    // Until now every ended attempt counted against maxAttempts: tasks in flight keep what they spent.
    await queryRunner.query(`UPDATE "tasks" SET "failures" = GREATEST("attempt" - CASE WHEN "status" = 'RUNNING' THEN 1 ELSE 0 END, 0) WHERE "attempt" > 0`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "faults"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "failures"`);
  }
}
