import { startConsumerLagMetric } from '../common/consumer-lag';
import { createKafka } from '../common/kafka';
import { createLogger } from '../common/logger';
import { onShutdownSignal } from '../common/lifecycle';
import { createMetricsRegistry } from '../common/metrics';
import { startServiceHttp } from '../common/service-http';
import { exitOnStartFailure } from '../common/start-failure';
import { consumerGroupId, resolveTopics } from '../common/topics';
import { loadPollerConfig } from './config';
import { startPoller } from './poller';

/** The poller process: `npx tsx services/poller/main.ts` (configuration from the environment). */
async function main(): Promise<void> {
  const config = loadPollerConfig();
  const logger = createLogger({ service: 'poller', level: config.connectivity.logLevel });
  const registry = createMetricsRegistry('poller');

  const poller = await startPoller({ config, logger, registry });
  const { topicPrefix } = config.connectivity;
  const topics = resolveTopics(topicPrefix);
  const lag = await startConsumerLagMetric({
    kafka: createKafka(config.connectivity, logger),
    registry,
    groups: [
      {
        groupId: consumerGroupId('poller', topicPrefix),
        // connections.v1 offsets are never committed (each assignment replays it): its lag
        // reads as the whole topic. commands.v1's lag is the commands not yet run.
        topics: [topics['connections.v1'], topics['commands.v1']],
      },
    ],
  });
  const http = await startServiceHttp({
    port: config.metricsPort,
    registry,
    readiness: { 'poller group joined': () => poller.isReady() },
  });
  logger.info({ port: http.port }, 'metrics endpoint listening');

  onShutdownSignal(
    async (signal) => {
      logger.info({ signal }, 'shutting down');
      await poller.stop();
      await lag.close();
      await http.close();
      logger.info('shutdown complete');
    },
    { onForcedExit: (reason) => logger.error({ reason }, 'forced exit') },
  );
}

main().catch(exitOnStartFailure('poller'));
