import { startConsumerLagMetric } from '../common/consumer-lag';
import { createKafka } from '../common/kafka';
import { createLogger } from '../common/logger';
import { onShutdownSignal } from '../common/lifecycle';
import { exitOnStartFailure } from '../common/start-failure';
import { createMetricsRegistry } from '../common/metrics';
import { startServiceHttp } from '../common/service-http';
import { consumerGroupId, resolveTopics } from '../common/topics';
import { loadDifferConfig } from './config';
import { startDiffer } from './differ';
import { createDifferMetrics } from './metrics';

/** Process entry: `npx tsx services/differ/main.ts`. Configuration: services/differ/README.md. */
async function main(): Promise<void> {
  const config = loadDifferConfig();
  const logger = createLogger({ service: 'differ', level: config.connectivity.logLevel });
  const registry = createMetricsRegistry('differ');
  const metrics = createDifferMetrics(registry);

  const differ = await startDiffer({ config, logger, metrics });
  const { topicPrefix } = config.connectivity;
  const lag = await startConsumerLagMetric({
    kafka: createKafka(config.connectivity, logger),
    registry,
    groups: [
      {
        groupId: consumerGroupId('differ', topicPrefix),
        topics: [resolveTopics(topicPrefix)['device-state.v1']],
      },
    ],
  });
  const http = await startServiceHttp({
    port: config.metricsPort,
    registry,
    readiness: { 'partitions restored': () => differ.isReady() },
  });
  logger.info({ port: http.port }, 'metrics listening');

  onShutdownSignal(
    async (signal) => {
      logger.info({ signal }, 'shutdown requested');
      await differ.stop();
      await lag.close();
      await http.close();
      logger.info({}, 'stopped');
    },
    {
      timeoutMs: config.shutdownTimeoutMs,
      onForcedExit: (reason) => logger.error({ reason }, 'forced exit'),
    },
  );
}

main().catch(exitOnStartFailure('differ'));
