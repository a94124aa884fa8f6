import type { MigrationInterface, QueryRunner } from 'typeorm';

export class IdempotencyRequestHash1796000742520 implements MigrationInterface {
  name = 'IdempotencyRequestHash1796000742520';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "runs" ADD "requestHash" character varying(64)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "runs" DROP COLUMN "requestHash"`);
  }
}
