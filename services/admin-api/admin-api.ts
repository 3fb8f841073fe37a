import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { createAvroSerde } from '../common/avro';
import { createKafka } from '../common/kafka';
import { createMetricsRegistry } from '../common/metrics';
import type { Logger } from '../common/logger';
import { consumerGroupId, resolveTopics } from '../common/topics';
import { createDestinationManager } from '../dispatcher/destinations';
import { startDestinationStore } from '../dispatcher/destination-store';
import { replayDead, replaySince, type ReplayDeps } from '../dispatcher/replay';
import { createTestEventSender } from '../dispatcher/test-event';
import { createAdminApi } from './app';
import type { AdminApiConfig } from './config';
import { createAdminApiMetrics, type AdminApiMetrics } from './metrics';
import { createPlatformView, type PlatformView } from './platform-view';
import { startTopicFollower } from './topic-follower';
import { createTransactionalWriter } from './transactional-writer';

export interface AdminApiHandle {
  readonly app: FastifyInstance;
  /** The port the API listens on (the configured one, or the one the OS chose for 0). */
  readonly port: number;
  readonly url: string;
  readonly view: PlatformView;
  readonly metrics: AdminApiMetrics;
  readonly registry: Registry;
  isReady(): boolean;
  stop(): Promise<void>;
}

/**
 * The admin API in-process: loads its view of the compacted topics (and the recent device
 * locations from device-state.v1), then listens. Tests and main.ts call this.
 */
export async function startAdminApi(options: {
  config: AdminApiConfig;
  logger: Logger;
  registry?: Registry;
  now?: () => number;
}): Promise<AdminApiHandle> {
  const { config } = options;
  const logger = options.logger.child({ component: 'admin-api' });
  const registry = options.registry ?? createMetricsRegistry('admin-api');
  const metrics = createAdminApiMetrics(registry);
  const prefix = config.connectivity.topicPrefix;
  const topics = resolveTopics(prefix);
  const groupPrefix = consumerGroupId('admin-api', prefix);
  const kafka = createKafka(config.connectivity, options.logger);
  const serde = createAvroSerde(config.connectivity);
  const view = createPlatformView({ serde, topics });
  const now = options.now ?? Date.now;

  const writer = await createTransactionalWriter({
    kafka,
    serde,
    logger: options.logger,
    transactionalIdPrefix: groupPrefix,
    onRetry: () => metrics.transactionRetries.inc(),
  });
  // The three readers join their groups concurrently: each join takes a few seconds.
  const [platform, deviceIndex, destinationStore] = await Promise.all([
    startTopicFollower({
      kafka,
      groupPrefix: `${groupPrefix}.view`,
      logger: options.logger,
      topics: ['customers.v1', 'sites.v1', 'enrollments.v1', 'commands.v1', 'connections.v1'].map(
        (name) => topics[name as keyof typeof topics],
      ),
      onMessage: (topic, message) => view.applyMessage(topic, message),
    }),
    startTopicFollower({
      kafka,
      groupPrefix: `${groupPrefix}.devices`,
      logger: options.logger,
      topics: [topics['device-state.v1']],
      sinceMs: now() - config.deviceLookbackMs,
      onMessage: (_topic, message) => view.applyDeviceState(message),
    }),
    startDestinationStore({
      kafka,
      serde,
      topic: topics['destinations.v1'],
      groupPrefix: `${groupPrefix}.destinations`,
      logger,
    }),
  ]);
  const destinations = createDestinationManager({
    kafka,
    serde,
    topics,
    groupPrefix: `${groupPrefix}.destinations`,
    allowPrivateUrls: config.allowPrivateUrls,
    secretOverlapMs: config.secretOverlapMs,
    store: destinationStore,
    now,
  });
  const replayDeps: ReplayDeps = {
    kafka,
    serde,
    topics,
    groupPrefix: `${groupPrefix}.replay`,
    now,
  };
  const testEvents = createTestEventSender({
    kafka,
    serde,
    topics,
    allowPrivateUrls: config.allowPrivateUrls,
    now,
  });
  await Promise.all([platform.caughtUp(), deviceIndex.caughtUp()]);
  logger.info(
    {
      customers: view.customers.size,
      connections: view.connections.size,
      devices: view.devices.size,
    },
    'view loaded',
  );

  const isReady = () => platform.isCaughtUp() && destinationStore.isReady();
  const app = createAdminApi({
    config,
    topics,
    view,
    writer,
    destinations,
    deliveries: {
      replaySince: (destination, sinceMs) => replaySince(replayDeps, destination, sinceMs),
      replayDead: (destination) => replayDead(replayDeps, destination),
      sendTest: (destination) => testEvents.send(destination),
    },
    logger: options.logger,
    metrics,
    isReady,
    now,
  });
  await app.listen({ port: config.port, host: config.host });
  const port = (app.server.address() as AddressInfo).port;
  logger.info({ port }, 'admin api listening');

  return {
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    view,
    metrics,
    registry,
    isReady,
    async stop() {
      // Stop taking requests and let the ones in flight finish their writes first.
      await app.close();
      logger.info('http closed');
      await Promise.all([platform.stop(), deviceIndex.stop(), destinationStore.stop()]);
      await writer.close();
      await Promise.all([destinations.close(), testEvents.close()]);
      logger.info('kafka clients closed');
    },
  };
}
