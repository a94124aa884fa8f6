import type { MigrationInterface, QueryRunner } from 'typeorm';

export class TasksByRunIndex1796045963562 implements MigrationInterface {
  name = 'TasksByRunIndex1796045963562';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_tasks_run" ON "tasks"  ("runId", "position") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_run"`);
  }
}
