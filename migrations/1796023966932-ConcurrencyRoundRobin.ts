import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ConcurrencyRoundRobin1796023966932 implements MigrationInterface {
  name = 'ConcurrencyRoundRobin1796023966932';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "concurrency_groups" ADD "servedSeq" bigint NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "task_concurrency" ADD "strategy" character varying(32) NOT NULL DEFAULT 'QUEUE'`);
    await queryRunner.query(`CREATE INDEX "IDX_run_concurrency_round_robin" ON "run_concurrency"  ("runId") WHERE "strategy" = 'ROUND_ROBIN'`);
    await queryRunner.query(`CREATE INDEX "IDX_concurrency_groups_served" ON "concurrency_groups"  ("servedSeq") `);
    // Hand-added: rows of tasks that ended before this release (from now on they leave with their task).
    await queryRunner.query(
      `DELETE FROM "task_concurrency" c USING "tasks" t WHERE t.id = c."taskId" AND t.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED')`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_concurrency_groups_served"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_run_concurrency_round_robin"`);
    await queryRunner.query(`ALTER TABLE "task_concurrency" DROP COLUMN "strategy"`);
    await queryRunner.query(`ALTER TABLE "concurrency_groups" DROP COLUMN "servedSeq"`);
  }
}
