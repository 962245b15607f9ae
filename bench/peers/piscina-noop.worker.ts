/** The task Piscina runs in the executor bench's pool comparison: returns its input. */
export default function echo(task: unknown): unknown {
  return task;
}
