/**
 * Compile-time checks, run by `npm test` through `tsc --noEmit`: every `@ts-expect-error` line
 * must fail to compile, so a change that lets a wrong payload or result through breaks the build.
 * This file declares no tests for jest.
 */
import { Injectable } from '@nestjs/common';
import { OmniQService, Task, type TaskContext, type TaskId } from '../../lib/index.js';

declare module '../../lib/types/task-map.types.js' {
  interface OmniQTaskMap {
    'typed.send-mail': { payload: { to: string; subject: string }; result: { messageId: string } };
  }
}

@Injectable()
export class TypedTasks {
  @Task('typed.send-mail')
  send(payload: { to: string; subject: string }, _ctx: TaskContext): { messageId: string } {
    return { messageId: payload.to };
  }

  // @ts-expect-error the handler must return the declared result type
  @Task('typed.send-mail')
  wrongResult(_payload: { to: string; subject: string }): number {
    return 1;
  }

  // @ts-expect-error the handler's payload parameter must match the declared payload
  @Task('typed.send-mail')
  wrongPayload(_payload: number): { messageId: string } {
    return { messageId: '' };
  }
}

export async function typedUsage(omniq: OmniQService): Promise<void> {
  const id: TaskId<{ messageId: string }> = await omniq.enqueue('typed.send-mail', { to: 'a@b.c', subject: 'hi' });
  const result = await omniq.waitForResult(id);
  const messageId: string | undefined = result.value?.messageId;
  void messageId;

  // @ts-expect-error payload is missing `subject`
  await omniq.enqueue('typed.send-mail', { to: 'a@b.c' });

  // @ts-expect-error `to` must be a string
  await omniq.enqueue('typed.send-mail', { to: 42, subject: 'hi' });

  // @ts-expect-error the result of typed.send-mail has no `count`
  void result.value?.count;

  // Names not declared in OmniQTaskMap accept any payload and yield unknown results.
  const loose = await omniq.waitForResult(await omniq.enqueue('untyped.task', { anything: [1, 2] }));
  // @ts-expect-error an undeclared task's result is unknown until narrowed
  void loose.value.anything;
}
