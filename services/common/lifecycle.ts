/**
 * Calls `stop` once on the first SIGTERM or SIGINT, then exits with 0 (or 1 if stop threw).
 * A second signal, or stop outlasting `timeoutMs`, exits at once with 1: an operator pressing
 * Ctrl-C twice means it. Returns a function that removes the handlers (for tests).
 */
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
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
