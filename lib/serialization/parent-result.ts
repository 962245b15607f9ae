/**
 * A payload placeholder: a task enqueued with `PARENT_RESULT` as its payload and exactly one
 * task in `dependsOn` receives that parent's result value as its payload when it runs. `chain()`
 * uses it for steps without a payload of their own.
 */
export const PARENT_RESULT: Readonly<{ omniqParentResult: true }> = Object.freeze({ omniqParentResult: true });
