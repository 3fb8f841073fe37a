import type { Admin, Kafka } from 'kafkajs';
import { Counter, Gauge, type Registry } from 'prom-client';

/** A consumer group and the topics whose lag it should report. */
export interface ConsumerGroupTopics {
  groupId: string;
  topics: string[];
}

export interface PartitionLag {
  groupId: string;
  topic: string;
  partition: number;
  /** The group's next offset to read; null when the group never committed on this partition. */
  committedOffset: bigint | null;
  /** The high watermark as a read_committed consumer sees it (last stable offset). */
  endOffset: bigint;
  /** Records between the committed offset (or the log start, if none) and the end offset. */
  lag: number;
}

export const CONSUMER_LAG_METRIC = 'gridpulse_kafka_consumer_lag';

/**
 * Lag per partition of `groupId` on `topics`, from the group's committed offsets and the
 * partitions' end offsets. A partition the group never committed on counts from its log start
 * offset: that is what a group starting from the earliest offset still has to read.
 */
export async function fetchConsumerLag(
  admin: Admin,
  groupId: string,
  topics: string[],
): Promise<PartitionLag[]> {
  if (topics.length === 0) return [];

  const [committed, ends] = await Promise.all([
    admin.fetchOffsets({ groupId, topics }),
    Promise.all(
      topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) })),
    ),
  ]);

  const committedByPartition = new Map<string, bigint>();
  for (const { topic, partitions } of committed) {
    for (const { partition, offset } of partitions) {
      // kafkajs reports "-1" for a partition without a committed offset.
      if (BigInt(offset) >= 0n) committedByPartition.set(`${topic}:${partition}`, BigInt(offset));
    }
  }

  return ends.flatMap(({ topic, offsets }) =>
    offsets.map(({ partition, high, low }) => {
      const committedOffset = committedByPartition.get(`${topic}:${partition}`) ?? null;
      const endOffset = BigInt(high);
      const from = committedOffset ?? BigInt(low);
      // A committed offset past the end (records deleted, topic recreated) is no backlog.
      const lag = endOffset > from ? Number(endOffset - from) : 0;
      return { groupId, topic, partition, committedOffset, endOffset, lag };
    }),
  );
}

/**
 * Registers `gridpulse_kafka_consumer_lag{group,topic,partition}` on `registry`, computed when
 * Prometheus scrapes. A failed lookup (broker down, timeout) drops the series for that scrape
 * and counts `gridpulse_kafka_consumer_lag_errors_total`, so /metrics keeps answering and no
 * stale lag is reported as current. `admin` must be connected; the caller owns its lifecycle.
 */
export function registerConsumerLagMetric(options: {
  registry: Registry;
  admin: Admin;
  groups: ConsumerGroupTopics[];
  /** Bound on one lookup, so that a slow broker does not hold the scrape past its timeout. */
  timeoutMs?: number;
}): { collect(): Promise<PartitionLag[]> } {
  const { admin, groups, registry } = options;
  const timeoutMs = options.timeoutMs ?? 5_000;

  const collect = async () => {
    const perGroup = await Promise.all(
      groups.map((group) => fetchConsumerLag(admin, group.groupId, group.topics)),
    );
    return perGroup.flat();
  };

  // The registry reads all metrics at once; the counter waits for the same scrape's lookup so
  // that a failure shows in the scrape that lacks the lag series.
  let lookup: Promise<void> = Promise.resolve();
  const errors = new Counter({
    name: 'gridpulse_kafka_consumer_lag_errors_total',
    help: 'Scrapes whose consumer-lag lookup failed or timed out (the lag series are then absent).',
    registers: [],
    async collect() {
      await lookup;
    },
  });

  const gauge = new Gauge({
    name: CONSUMER_LAG_METRIC,
    help: 'Records not yet consumed by the group: end offset minus committed offset, per partition.',
    labelNames: ['group', 'topic', 'partition'],
    registers: [],
    collect() {
      lookup = refresh();
      return lookup;
    },
  });

  async function refresh(): Promise<void> {
    gauge.reset();
    try {
      const rows = await withTimeout(collect(), timeoutMs);
      for (const row of rows) {
        const labels = { group: row.groupId, topic: row.topic, partition: String(row.partition) };
        gauge.set(labels, row.lag);
      }
    } catch {
      // Deliberately not rethrown: a failing lookup must not fail the whole /metrics answer.
      // The counter and the missing series are the signal.
      errors.inc();
    }
  }

  // Gauge first: the registry starts reading metrics in registration order.
  registry.registerMetric(gauge);
  registry.registerMetric(errors);
  return { collect };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`consumer lag lookup timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * What a service's main.ts calls: a Kafka admin client of its own, connected, feeding the lag
 * gauge on `registry` for `groups`. `close()` disconnects it (on shutdown).
 */
export async function startConsumerLagMetric(options: {
  kafka: Kafka;
  registry: Registry;
  groups: ConsumerGroupTopics[];
}): Promise<{ close(): Promise<void> }> {
  const admin = options.kafka.admin();
  await admin.connect();
  registerConsumerLagMetric({ registry: options.registry, admin, groups: options.groups });
  return { close: () => admin.disconnect() };
}
