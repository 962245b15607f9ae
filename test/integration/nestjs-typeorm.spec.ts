import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, EntitySchema, type Repository } from 'typeorm';
import { OmniQModule, OmniQService, Task, sqliteStoresFromDataSource } from '../../lib/index.js';

interface User {
  id: number;
  email: string;
}
const UserEntity = new EntitySchema<User>({
  name: 'user',
  columns: { id: { type: Number, primary: true, generated: true }, email: { type: String } },
});

@Injectable()
class SignupTasks {
  constructor(@InjectRepository(UserEntity) private readonly users: Repository<User>) {}

  @Task('signup.create')
  async create(payload: { email: string }): Promise<number> {
    return (await this.users.save({ email: payload.email })).id;
  }
}

async function boot(database: string): Promise<{ omniq: OmniQService; dataSource: DataSource; close: () => Promise<void> }> {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'better-sqlite3', database, entities: [UserEntity], synchronize: true }),
      TypeOrmModule.forFeature([UserEntity]),
      OmniQModule.forRootAsync({
        inject: [DataSource],
        useFactory: async (dataSource: DataSource) => ({ ...(await sqliteStoresFromDataSource(dataSource, { projectName: 'app' })) }),
      }),
    ],
    providers: [SignupTasks],
  })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  moduleRef.useLogger(false);
  const app = await moduleRef.init();
  return { omniq: app.get(OmniQService), dataSource: app.get(DataSource), close: () => app.close() };
}

describe('on the DataSource of @nestjs/typeorm', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-nestjs-typeorm-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps OmniQ's tables beside the app's in its database, runs handlers that use its repositories, and survives a restart", async () => {
    const database = join(dir, 'app.db');
    const first = await boot(database);
    const id = await first.omniq.enqueue('signup.create', { email: 'ada@example.com' });
    expect((await first.omniq.waitForResult(id)).value).toBe(1);
    const tables = (await first.dataSource.query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)) as { name: string }[];
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['user', 'app_tasks', 'app_results', 'app_events']));
    await first.close();
    expect(first.dataSource.isInitialized).toBe(false);

    const second = await boot(database);
    expect(await second.omniq.getTask(id)).toMatchObject({ status: 'success' });
    expect((await second.omniq.getResult(id))?.value).toBe(1);
    expect(await second.dataSource.getRepository(UserEntity).find()).toEqual([{ id: 1, email: 'ada@example.com' }]);
    await second.close();
  });
});
