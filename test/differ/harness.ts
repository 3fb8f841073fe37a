import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { createAvroSerde, type AvroSerde } from '../../services/common/avro';
import type { EventRecord } from '../../services/common/events';
import type { Logger } from '../../services/common/logger';
import type { Topics } from '../../services/common/topics';
import { defaultRuleConfig, type DifferConfig } from '../../services/differ/config';
import type { DeviceSample, DeviceSnapshot } from '../../services/differ/device-state';
import { toDeviceSnapshot } from '../../services/differ/device-state';
import { startDiffer, type DifferHandle } from '../../services/differ/differ';
import { applySample } from '../../services/differ/rules';
import { createDifferMetrics, type DifferMetrics } from '../../services/differ/metrics';
import { setUpTestKafka, type TestKafka } from '../support/kafka';

export const DIFFER_TOPICS = ['device-state.v1', 'device-snapshots.v1', 'events.v1'] as const;

export async function setUpDifferKafka(partitions = 3): Promise<TestKafka & { serde: AvroSerde }> {
  const testKafka = await setUpTestKafka({
    only: [...DIFFER_TOPICS],
    partitions,
    service: 'differ',
  });
  return { ...testKafka, serde: createAvroSerde(testKafka.config) };
}

export function makeDifferConfig(
  testKafka: TestKafka,
  overrides: Partial<DifferConfig> = {},
): DifferConfig {
  return {
    connectivity: testKafka.config,
    metricsPort: 0,
    rules: defaultRuleConfig(),
    partitionsConcurrently: 3,
    maxRecordsPerTransaction: 1000,
    restoreTimeoutMs: 20_000,
    sessionTimeoutMs: 6000,
    shutdownTimeoutMs: 20_000,
    ...overrides,
  };
}

export async function startTestDiffer(
  testKafka: TestKafka & { serde: AvroSerde },
  logger: Logger,
  overrides: Partial<DifferConfig> = {},
): Promise<{ differ: DifferHandle; metrics: DifferMetrics; registry: Registry }> {
  const registry = new Registry();
  const metrics = createDifferMetrics(registry);
  const differ = await startDiffer({
    config: makeDifferConfig(testKafka, overrides),
    logger,
    metrics,
    kafka: testKafka.kafka,
    serde: testKafka.serde,
  });
  return { differ, metrics, registry };
}

/** Produces samples keyed by device id, as the poller does, in the order given. */
export async function produceSamples(
  testKafka: TestKafka & { serde: AvroSerde },
  samples: DeviceSample[],
): Promise<void> {
  const topic = testKafka.topics['device-state.v1'];
  const producer = testKafka.kafka.producer({ idempotent: true });
  await producer.connect();
  try {
    const messages = await Promise.all(
      samples.map(async (sample) => ({
        key: sample.deviceId,
        value: await testKafka.serde.encode(topic, 'device-state', sample),
      })),
    );
    for (let i = 0; i < messages.length; i += 2000) {
      await producer.send({ topic, messages: messages.slice(i, i + 2000) });
    }
  } finally {
    await producer.disconnect();
  }
}

/**
 * Everything on `topic` as a read_committed consumer sees it, read until `isDone` holds for
 * what was read so far and nothing new arrived for `quietMs`.
 */
export async function readCommitted<T>(
  kafka: Kafka,
  serde: AvroSerde,
  topic: string,
  options: {
    readUncommitted?: boolean;
    isDone: (values: Array<{ key: string; value: T | null; partition: number }>) => boolean;
    timeoutMs?: number;
    quietMs?: number;
  },
): Promise<Array<{ key: string; value: T | null; partition: number }>> {
  const { timeoutMs = 30_000, quietMs = 500 } = options;
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    readUncommitted: options.readUncommitted ?? false,
    maxWaitTimeInMs: 100,
  });
  const values: Array<{ key: string; value: T | null; partition: number }> = [];
  let lastArrival = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      const value = message.value ? await serde.decode<T>(message.value) : null;
      values.push({ key: message.key?.toString() ?? '', value, partition });
      lastArrival = Date.now();
    },
  });
  const deadline = Date.now() + timeoutMs;
  try {
    while (!(options.isDone(values) && Date.now() - lastArrival >= quietMs)) {
      if (Date.now() > deadline) {
        throw new Error(`timed out reading ${topic}: ${values.length} records so far`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return values;
  } finally {
    await consumer.disconnect();
  }
}

export async function readEvents(
  testKafka: TestKafka & { serde: AvroSerde },
  expectedCount: number,
  options: { timeoutMs?: number; quietMs?: number } = {},
): Promise<EventRecord[]> {
  const records = await readCommitted<EventRecord>(
    testKafka.kafka,
    testKafka.serde,
    testKafka.topics['events.v1'],
    {
      ...options,
      isDone: (values) => values.length >= expectedCount,
    },
  );
  return records.map((record) => record.value!);
}

/** The compacted view of the changelog: the last snapshot per device. */
export async function readSnapshots(
  testKafka: TestKafka & { serde: AvroSerde },
  expectedDevices: number,
): Promise<Map<string, DeviceSnapshot>> {
  const records = await readCommitted<DeviceSnapshot>(
    testKafka.kafka,
    testKafka.serde,
    testKafka.topics['device-snapshots.v1'],
    { isDone: (values) => new Set(values.map((v) => v.key)).size >= expectedDevices },
  );
  const latest = new Map<string, DeviceSnapshot>();
  for (const { key, value } of records) if (value) latest.set(key, toDeviceSnapshot(value));
  return latest;
}

/** A counter's or gauge's value, or a histogram's `<name>_count` / `<name>_sum`. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const baseName = name.replace(/_(count|sum)$/, '');
  const metric = await (
    registry.getSingleMetric(name) ?? registry.getSingleMetric(baseName)
  )?.get();
  const values = (metric?.values ?? []) as Array<{
    value: number;
    labels: Record<string, string | number>;
    metricName?: string;
  }>;
  const match = values.find(
    (entry) =>
      (entry.metricName === undefined || entry.metricName === name) &&
      Object.entries(labels).every(([key, value]) => entry.labels[key] === value),
  );
  return match?.value ?? 0;
}

/** What the differ must produce for `samples`: the rules applied per device in input order. */
export function computeExpected(samples: DeviceSample[], rules = defaultRuleConfig()) {
  const snapshots = new Map<string, DeviceSnapshot>();
  const events: EventRecord[] = [];
  for (const sample of samples) {
    const verdict = applySample(snapshots.get(sample.deviceId), sample, rules);
    if (verdict.next) snapshots.set(sample.deviceId, verdict.next);
    events.push(...verdict.events);
  }
  return { events, snapshots };
}

/** Keys that occur other than exactly once, with their counts: empty when all is well. */
export function findKeyMiscounts(
  expected: EventRecord[],
  actual: EventRecord[],
): Record<string, number> {
  const counts = new Map<string, number>(expected.map((event) => [event.key, 0]));
  for (const event of actual) counts.set(event.key, (counts.get(event.key) ?? 0) + 1);
  return Object.fromEntries([...counts].filter(([, count]) => count !== 1));
}
