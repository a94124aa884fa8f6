import type { MigrationInterface, QueryRunner } from 'typeorm';

export class LeaseSecret1796001634583 implements MigrationInterface {
  name = 'LeaseSecret1796001634583';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" ADD "leaseSecret" character varying(32)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "leaseSecret"`);
  }
}
