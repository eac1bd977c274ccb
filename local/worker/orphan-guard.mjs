/**
 * Preloaded (`node --import`) into every worker the local cluster starts (`orphanGuard` in process.ts). A pod
 * dies with its node; a local worker should die with the process that started it. If that process goes away
 * without stopping its workers (SIGKILL, out of memory, a crash past every exit hook), the worker is
 * re-parented, and this guard notices within a second: it stops the worker the graceful way (SIGTERM: finish
 * the batch, checkpoint, hand off), and kills it outright if that takes longer than a few seconds (DynamoDB
 * Local usually died too).
 * Plain JavaScript: it runs beside the bundled worker, without a TypeScript loader.
 */
// The launcher names its own pid: the parent may already be gone by the time this module runs.
const parent = Number(process.env.STREAMFLEET_PARENT_PID) || process.ppid;
const FORCE_AFTER_MS = 8_000;

const check = () => {
  if (process.ppid === parent) return;
  clearInterval(timer);
  // The pipes to the parent are gone: a write must not turn a graceful stop into a crash.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), FORCE_AFTER_MS).unref();
  process.kill(process.pid, 'SIGTERM');
};
const timer = setInterval(check, 1_000);
timer.unref();
check();
