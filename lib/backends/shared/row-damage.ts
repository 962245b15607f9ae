import { TASK_STATUSES, type TaskStatus } from '../../models/task.model.js';

const STATUSES = new Set<string>(TASK_STATUSES);
/** How much of an unreadable value a damage note quotes. */
const QUOTED = 40;

export const quoteDamaged = (value: unknown): string => JSON.stringify(String(value).slice(0, QUOTED));

/**
 * What a stored row holds that cannot be read, column by column: a bad disk, a manual edit or an
 * old bug must not make every read of the queue throw. The readers below give such a column a
 * neutral value (an empty list, undefined) and note it here.
 */
export class RowDamage {
  notes: string[] | undefined;

  note(column: string, what: string): void {
    (this.notes ??= []).push(`column ${column} ${what}`);
  }
}

/** A JSON text column (null: absent). */
export function jsonColumn(text: string | null, column: string, damage: RowDamage): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    damage.note(column, 'holds invalid JSON');
    return undefined;
  }
}

/** A column holding a JSON list of strings. */
export function stringListColumn(text: string, column: string, damage: RowDamage): string[] {
  if (text === '[]') return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    damage.note(column, 'holds invalid JSON');
    return [];
  }
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  damage.note(column, `holds no list of strings (${quoteDamaged(text)})`);
  return [];
}

/** A task status column, shown as stored: no neutral status would say what the row holds. */
export function statusColumn(value: string, damage: RowDamage): TaskStatus {
  if (!STATUSES.has(value)) damage.note('status', `holds no task status (${quoteDamaged(value)})`);
  return value as TaskStatus;
}
