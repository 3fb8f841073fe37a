import type { Admin } from 'kafkajs';
import type { Registry } from 'prom-client';
import { createAvroSerde } from '../common/avro';
import { createKafka } from '../common/kafka';
import type { Logger } from '../common/logger';
import { createMetricsRegistry } from '../common/metrics';
import { consumerGroupId, resolveTopics } from '../common/topics';
import { createBatchingProducer } from './batching-producer';
import type { DispatcherConfig } from './config';
import { createDeliveryScheduler } from './delivery-scheduler';
import { startDestinationStore, type DestinationStore } from './destination-store';
import { createDestinationManager, type DestinationManager } from './destinations';
import { startEventConsumer } from './event-consumer';
import { createDispatcherMetrics, type DispatcherMetrics } from './metrics';
import { startRetryConsumer } from './retry-consumer';
import { resolveRetryTiers, type RetryTier } from './retry-tiers';
import { createWebhookClient } from './webhook-client';

export interface DispatcherHandle {
  /** Every destination this replica knows, kept current from destinations.v1. */
  destinations: DestinationStore;
  /** The management module, bound to this replica's view of the destinations. */
  manager: DestinationManager;
  registry: Registry;
  isReady(): boolean;
  /** Stop fetching, finish or hand off deliveries under way, commit, close. */
  stop(): Promise<void>;
}

const PENDING_REFRESH_MS = 15_000;

/**
 * Starts a dispatcher replica in this process: loads the destinations, then consumes the retry
 * tiers and events.v1. `onFatal` is called when a delivery could not be handed off to Kafka;
 * main.ts exits then, so that the uncommitted events are redone by a fresh process.
 */
export async function startDispatcher(options: {
  config: DispatcherConfig;
  logger: Logger;
  registry?: Registry;
  onFatal?: (err: unknown) => void;
}): Promise<DispatcherHandle> {
  const { config } = options;
  const logger = options.logger.child({ component: 'dispatcher' });
  const registry = options.registry ?? createMetricsRegistry('dispatcher');
  const metrics = createDispatcherMetrics(registry, {
    destinationLabelLimit: config.destinationLabelLimit,
  });
  const prefix = config.connectivity.topicPrefix;
  const topics = resolveTopics(prefix);
  const tiers = resolveRetryTiers(topics, config.tierDelaysMs);
  const groupPrefix = consumerGroupId('dispatcher', prefix);
  const kafka = createKafka(config.connectivity, options.logger);
  const serde = createAvroSerde(config.connectivity);
  const onFatal = options.onFatal ?? (() => undefined);

  const store = await startDestinationStore({
    kafka,
    serde,
    topic: topics['destinations.v1'],
    groupPrefix,
    logger,
  });
  trackDestinationCounts(store, metrics);

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const batching = createBatchingProducer(producer);
  const client = createWebhookClient({
    allowPrivateUrls: config.allowPrivateUrls,
    connectionsPerOrigin: config.connectionsPerOrigin,
  });
  const manager = createDestinationManager({
    kafka,
    serde,
    topics,
    groupPrefix,
    allowPrivateUrls: config.allowPrivateUrls,
    secretOverlapMs: config.secretOverlapMs,
    store,
  });
  const scheduler = createDeliveryScheduler({
    config,
    store,
    manager,
    client,
    producer: batching,
    serde,
    topics,
    tiers,
    metrics,
    logger: options.logger,
  });

  const retryGroupId = consumerGroupId('dispatcher-retry', prefix);
  const retries = await startRetryConsumer({
    kafka,
    serde,
    tiers,
    groupId: retryGroupId,
    config,
    scheduler,
    producer: batching,
    logger: options.logger,
    onFatal,
  });
  const events = await startEventConsumer({
    kafka,
    serde,
    topic: topics['events.v1'],
    groupId: groupPrefix,
    config,
    store,
    scheduler,
    metrics,
    logger: options.logger,
    onFatal,
  });
  logger.info({ topic: topics['events.v1'], tiers: tiers.length }, 'dispatcher started');

  const admin = kafka.admin();
  await admin.connect();
  const pendingTimer = setInterval(() => {
    refreshRetriesPending(admin, retryGroupId, tiers, metrics).catch((err: unknown) => {
      logger.debug({ err }, 'retries pending not refreshed');
    });
  }, PENDING_REFRESH_MS);
  pendingTimer.unref();

  let stopped: Promise<void> | undefined;
  return {
    destinations: store,
    manager,
    registry,
    isReady: () => store.isReady() && events.isRunning(),
    stop() {
      stopped ??= (async () => {
        clearInterval(pendingTimer);
        logger.info({}, 'stopping: fetching stopped, finishing deliveries');
        const drain = () => scheduler.drain();
        await Promise.all([events.stop(drain), retries.stop(drain)]);
        logger.info({}, 'stopping: offsets committed, closing clients');
        await batching.flush();
        await Promise.all([
          producer.disconnect(),
          manager.close(),
          store.stop(),
          client.close(),
          admin.disconnect(),
        ]);
        logger.info({}, 'dispatcher stopped');
      })();
      return stopped;
    },
  };
}

function trackDestinationCounts(store: DestinationStore, metrics: DispatcherMetrics): void {
  const update = () => {
    const all = store.all();
    const enabled = all.filter((destination) => destination.enabled).length;
    metrics.destinations.set({ state: 'enabled' }, enabled);
    metrics.destinations.set({ state: 'disabled' }, all.length - enabled);
  };
  update();
  store.onChange(update);
}

/** Lag of the retry group on each tier: what waits there, the tier telling how long. */
async function refreshRetriesPending(
  admin: Admin,
  groupId: string,
  tiers: readonly RetryTier[],
  metrics: DispatcherMetrics,
): Promise<void> {
  const committed = await admin.fetchOffsets({ groupId, topics: tiers.map((tier) => tier.topic) });
  for (const tier of tiers) {
    const ends = await admin.fetchTopicOffsets(tier.topic);
    const offsets = committed.find((entry) => entry.topic === tier.topic)?.partitions ?? [];
    let pending = 0;
    for (const end of ends) {
      const at = Number(offsets.find((entry) => entry.partition === end.partition)?.offset ?? -1);
      pending += Number(end.high) - (at >= 0 ? at : Number(end.low));
    }
    metrics.retriesPending.set(
      { tier: tier.topic.slice(tier.topic.indexOf('deliveries.')) },
      pending,
    );
  }
}
