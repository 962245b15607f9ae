import { Module } from '@nestjs/common';
import { OmniQModule } from '../lib/index.js';
import { ReportTasks } from './report.tasks.js';

@Module({
  // No backend given: OmniQ keeps tasks, results and events in ./omniq_data/omniq.db (SQLite).
  imports: [OmniQModule.forRoot({ worker: { concurrency: 4 } })],
  providers: [ReportTasks],
})
export class AppModule {}
