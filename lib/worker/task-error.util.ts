import type { TaskError } from '../models/task.model.js';

export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: typeof error === 'string' ? error : JSON.stringify(error) ?? String(error) };
}
