import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ForEachItems1796009171861 implements MigrationInterface {
  name = 'ForEachItems1796009171861';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."UQ_tasks_run_key"`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "parentTaskId" uuid`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "item" jsonb`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "itemIndex" integer`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "itemCount" integer`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "itemsLeft" integer`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "itemsActive" integer`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "failedItems" jsonb`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_tasks_parent_item" ON "tasks"  ("parentTaskId", "itemIndex") WHERE "parentTaskId" IS NOT NULL`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_tasks_run_step" ON "tasks"  ("runId", "key") WHERE "parentTaskId" IS NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."UQ_tasks_run_step"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_tasks_parent_item"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "failedItems"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "itemsActive"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "itemsLeft"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "itemCount"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "itemIndex"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "item"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "parentTaskId"`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_tasks_run_key" ON "tasks" USING btree ("key", "runId") `);
  }
}
