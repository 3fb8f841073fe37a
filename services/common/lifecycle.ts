/**
 * Calls `stop` once on the first SIGTERM or SIGINT, then exits with 0 (or 1 if stop threw).
 * A second signal, or stop outlasting `timeoutMs`, exits at once with 1: an operator pressing
 * Ctrl-C twice means it. Returns a function that removes the handlers (for tests).
 *
 * A process started by `gridpulse start` (which sets LAUNCHER_PID_ENV) also stops, as on
 * SIGHUP, when that launcher is gone: a launcher killed with SIGKILL runs no clean-up of its
 * own, and its services would run on as orphans holding their ports and group memberships.
 */
export const LAUNCHER_PID_ENV = 'GRIDPULSE_LAUNCHER_PID';

export function onShutdownSignal(
  stop: (signal: NodeJS.Signals) => Promise<void>,
  options: { timeoutMs?: number; onForcedExit?: (reason: string) => void } = {},
): () => void {
  const { timeoutMs = 30_000, onForcedExit } = options;
  let stopping = false;

  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      onForcedExit?.(`second ${signal}`);
      process.exit(1);
    }
    stopping = true;

    const timer = setTimeout(() => {
      onForcedExit?.(`shutdown took longer than ${timeoutMs} ms`);
      process.exit(1);
    }, timeoutMs);
    timer.unref();

    stop(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };

  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  const launcherWatch = watchLauncher(() => handler('SIGHUP'));
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
    clearInterval(launcherWatch);
  };
}

/** Once a second: an orphan is re-parented, so its ppid no longer names the launcher. */
function watchLauncher(onGone: () => void): NodeJS.Timeout | undefined {
  const launcherPid = Number(process.env[LAUNCHER_PID_ENV]);
  if (!Number.isInteger(launcherPid) || launcherPid <= 0) return undefined;
  const timer = setInterval(() => {
    if (process.ppid === launcherPid) return;
    clearInterval(timer);
    onGone();
  }, 1000);
  timer.unref();
  return timer;
}
