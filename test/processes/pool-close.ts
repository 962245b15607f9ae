/**
 * Runs a task on a thread and one on a child process, closes the app, and checks that the child
 * process is gone; then it must exit by itself, which it cannot while a pool member, its thread
 * or its IPC channel is still open. Prints `closed <pid of the child member> <alive|gone>`.
 */
import { createPoolApp } from './pool-app.js';

const { app, omniq } = await createPoolApp({ worker: { type: 'thread', threads: 1, processes: 1 } });
const onThread = await omniq.waitForResult(await omniq.enqueue('pool.where', {}), { timeoutMs: 20_000 });
const inProcess = await omniq.waitForResult(await omniq.enqueue('pool.child', {}), { timeoutMs: 20_000 });
if (onThread.status !== 'success' || inProcess.status !== 'success') throw new Error(`tasks failed: ${JSON.stringify([onThread, inProcess])}`);
await app.close();
const { pid } = inProcess.value as { pid: number };
let alive = true;
try {
  process.kill(pid, 0);
} catch {
  alive = false;
}
process.stdout.write(`closed ${pid} ${alive ? 'alive' : 'gone'}\n`);
