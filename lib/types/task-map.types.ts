/**
 * Declares the payload and result type of each task name, for compile-time checks of
 * `enqueue`, `waitForResult` and `@Task` handlers. Extend it by declaration merging:
 *
 * ```ts
 * declare module '@omniq/nestjs' {
 *   interface OmniQTaskMap {
 *     'send-mail': { payload: { to: string }; result: { messageId: string } };
 *   }
 * }
 * ```
 * Names that are not declared accept any payload and yield `unknown` results.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface OmniQTaskMap {}

type DeclaredName = keyof OmniQTaskMap & string;

export type TaskPayload<N extends string> = N extends DeclaredName
  ? OmniQTaskMap[N] extends { payload: infer P }
    ? P
    : unknown
  : unknown;

/** What a handler of `N` may declare as its payload parameter: anything for undeclared names. */
export type HandlerPayload<N extends string> = N extends DeclaredName
  ? TaskPayload<N>
  : // eslint-disable-next-line @typescript-eslint/no-explicit-any
    any;

export type TaskResultValue<N extends string> = N extends DeclaredName
  ? OmniQTaskMap[N] extends { result: infer R }
    ? R
    : unknown
  : unknown;

/** A task id that remembers the result type of its task, so `waitForResult` is typed. */
export type TaskId<R = unknown> = string & { readonly __omniqResult?: R };
