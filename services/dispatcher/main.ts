import { onShutdownSignal } from '../common/lifecycle';
import { createLogger } from '../common/logger';
import { createMetricsRegistry } from '../common/metrics';
import { startServiceHttp } from '../common/service-http';
import { loadDispatcherConfig } from './config';
import { startDispatcher } from './start-dispatcher';

/** The dispatcher process: `npx tsx services/dispatcher/main.ts`. */
async function main(): Promise<void> {
  const config = loadDispatcherConfig();
  const logger = createLogger({ service: 'dispatcher', level: config.connectivity.logLevel });
  const registry = createMetricsRegistry('dispatcher');

  let fatal = false;
  const dispatcher = await startDispatcher({
    config,
    logger,
    registry,
    onFatal: () => {
      if (fatal) return;
      fatal = true;
      // Uncommitted events are redone by the next process; stopping cleanly commits the rest.
      logger.error({}, 'delivery hand-off failed, exiting');
      void dispatcher.stop().finally(() => process.exit(1));
    },
  });
  const http = await startServiceHttp({
    port: config.metricsPort,
    registry,
    readiness: { 'dispatcher consuming': () => dispatcher.isReady() },
  });
  logger.info({ port: http.port, allowPrivateUrls: config.allowPrivateUrls }, 'metrics listening');

  onShutdownSignal(
    async (signal) => {
      logger.info({ signal }, 'shutdown requested');
      await dispatcher.stop();
      await http.close();
      logger.info({}, 'shutdown complete');
    },
    { onForcedExit: (reason) => logger.error({ reason }, 'forced exit') },
  );
}

main().catch((err: unknown) => {
  // The logger may not exist yet (bad config): plain stderr, one line.
  process.stderr.write(
    `dispatcher failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
