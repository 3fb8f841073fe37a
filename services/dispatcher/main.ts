import { startConsumerLagMetric } from '../common/consumer-lag';
import { createKafka } from '../common/kafka';
import { onShutdownSignal } from '../common/lifecycle';
import { createLogger } from '../common/logger';
import { createMetricsRegistry } from '../common/metrics';
import { startServiceHttp } from '../common/service-http';
import { exitOnStartFailure } from '../common/start-failure';
import { consumerGroupId, resolveTopics } from '../common/topics';
import { loadDispatcherConfig } from './config';
import { RETRY_TIER_TOPICS } from './retry-tiers';
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
  const { topicPrefix } = config.connectivity;
  const topics = resolveTopics(topicPrefix);
  const lag = await startConsumerLagMetric({
    kafka: createKafka(config.connectivity, logger),
    registry,
    groups: [
      { groupId: consumerGroupId('dispatcher', topicPrefix), topics: [topics['events.v1']] },
      {
        // A tier's lag includes deliveries waiting for their due time, not only a backlog:
        // read it with gridpulse_dispatcher_retries_pending, which names the tier.
        groupId: consumerGroupId('dispatcher-retry', topicPrefix),
        topics: RETRY_TIER_TOPICS.map((name) => topics[name]),
      },
    ],
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
      await lag.close();
      await http.close();
      logger.info({}, 'shutdown complete');
    },
    { onForcedExit: (reason) => logger.error({ reason }, 'forced exit') },
  );
}

main().catch(exitOnStartFailure('dispatcher'));
