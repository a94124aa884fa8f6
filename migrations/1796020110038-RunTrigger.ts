import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RunTrigger1796020110038 implements MigrationInterface {
  name = 'RunTrigger1796020110038';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "runs" ADD "trigger" jsonb NOT NULL DEFAULT '{"kind":"API"}'`);
    // Child runs stored before triggers were kept were started by their parent.
    await queryRunner.query(`UPDATE "runs" SET "trigger" = '{"kind":"PARENT"}' WHERE "parentRunId" IS NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "trigger"`);
  }
}
