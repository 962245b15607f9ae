import { Module } from '@nestjs/common';
import { OmniQModule } from '../lib/index.js';
import { ReportTasks } from './report.tasks.js';

@Module({
  imports: [OmniQModule.forRoot({ backend: 'memory://', worker: { concurrency: 4 } })],
  providers: [ReportTasks],
})
export class AppModule {}
