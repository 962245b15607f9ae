import { Injectable } from '@nestjs/common';
import type { ScheduleSpec } from '../models/schedule.model.js';
import { ScheduleDefinitionError } from '../errors/omniq.errors.js';

export interface DeclaredSchedule {
  id: string;
  spec: ScheduleSpec;
  /** Where it was declared, for messages: `ClassName.methodName`. */
  source: string;
}

/** The schedules declared with `@Scheduled()` in this app, filled by the explorer at module init. */
@Injectable()
export class ScheduleRegistry {
  private readonly declared = new Map<string, DeclaredSchedule>();

  register(schedule: DeclaredSchedule): void {
    const existing = this.declared.get(schedule.id);
    if (existing) {
      throw new ScheduleDefinitionError(
        `Duplicate schedule name "${schedule.id}": declared by ${existing.source} and by ${schedule.source}. Give each @Scheduled() a unique name.`,
      );
    }
    this.declared.set(schedule.id, schedule);
  }

  all(): DeclaredSchedule[] {
    return [...this.declared.values()];
  }
}
