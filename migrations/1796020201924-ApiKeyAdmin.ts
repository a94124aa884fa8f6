import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ApiKeyAdmin1796020201924 implements MigrationInterface {
  name = 'ApiKeyAdmin1796020201924';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "api_keys" ADD "admin" boolean NOT NULL DEFAULT false`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "api_keys" DROP COLUMN "admin"`);
  }
}
