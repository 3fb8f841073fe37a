import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Admin, Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { createAvroSerde, type AvroSerde } from '../services/common/avro';
import { baseEnvSchema, parseEnv, toConnectivityConfig } from '../services/common/config';
import { createKafka } from '../services/common/kafka';
import { createLogger } from '../services/common/logger';
import { provisionTopics } from '../services/common/provision';
import {
  TOPIC_SPECS,
  consumerGroupId,
  resolveTopics,
  type Topics,
} from '../services/common/topics';
import { defaultRuleConfig, type DifferConfig } from '../services/differ/config';
import type { DeviceSample, DeviceSnapshot } from '../services/differ/device-state';
import { startDiffer } from '../services/differ/differ';
import { createDifferMetrics } from '../services/differ/metrics';
import { applySample } from '../services/differ/rules';
import { makeBatteryState, makeDeviceState } from '../test/support/device-state';

/**
 * Differ figures on the local broker: records/s through the differ with 10 % and 100 % of
 * samples changing, beside a plain kafkajs consume-and-produce loop on the same records (the
 * ceiling), and the heap taken per 100,000 devices by the pure state store.
 * Run: npx tsx bench/differ.ts [devices=5000] [polls=6] [partitions=6]
 */
const DEVICES = Number(process.argv[2] ?? 5_000);
const POLLS = Number(process.argv[3] ?? 6);
const PARTITIONS = Number(process.argv[4] ?? 6);
const MINUTE = 60_000;
const T0 = Date.parse('2024-08-22T15:54:52.013Z');

async function main(): Promise<void> {
  report('setup', {
    devices: DEVICES,
    pollsPerPhase: POLLS - 1,
    partitions: PARTITIONS,
    node: process.version,
  });
  measureStoreMemory(100_000);

  const env = parseEnv(baseEnvSchema, {
    ...process.env,
    GRIDPULSE_TOPIC_PREFIX: `bench${randomBytes(3).toString('hex')}`,
  });
  const connectivity = toConnectivityConfig(env, 'bench');
  const logger = createLogger({ service: 'bench', level: 'warn' });
  const kafka = createKafka(connectivity, logger);
  const admin = kafka.admin();
  await admin.connect();
  const topics = resolveTopics(connectivity.topicPrefix);
  const names = ['device-state.v1', 'device-snapshots.v1', 'events.v1'];
  const specs = TOPIC_SPECS.filter((spec) => names.includes(spec.name)).map((spec) => ({
    ...spec,
    partitions: PARTITIONS,
  }));
  await provisionTopics(admin, topics, { replicationFactor: 1, specs });
  const serde = createAvroSerde(connectivity);
  const config: DifferConfig = {
    connectivity,
    metricsPort: 0,
    rules: defaultRuleConfig(),
    partitionsConcurrently: PARTITIONS,
    maxRecordsPerTransaction: 1000,
    restoreTimeoutMs: 60_000,
    sessionTimeoutMs: 30_000,
    shutdownTimeoutMs: 30_000,
  };

  try {
    // Discovery round, not timed: every device gets a snapshot first.
    const levels: number[] = [];
    await produce(kafka, serde, topics, makeRound(0, 0, levels));
    await runDiffer(kafka, admin, config, topics, 'warm-up (first sight of every device)', DEVICES);

    let total = DEVICES;
    for (const changing of [0.1, 1]) {
      const samples: DeviceSample[] = [];
      for (let poll = 1; poll < POLLS; poll += 1)
        samples.push(...makeRound(poll, changing, levels, changing === 1 ? 100 : 0));
      await produce(kafka, serde, topics, samples);
      total += samples.length;
      await runDiffer(
        kafka,
        admin,
        config,
        topics,
        `differ, ${changing * 100}% of samples changing`,
        samples.length,
      );
    }

    await runCeiling(kafka, admin, topics, total);
  } finally {
    await admin
      .deleteTopics({ topics: names.map((name) => topics[name as keyof Topics]) })
      .catch(() => undefined);
    await admin.disconnect();
  }
}

/**
 * One poll of every device: `changing` of them move 5 points from where they were (past the
 * 1-point deadband), the others repeat their last level, so exactly that share changes.
 * `levels` holds each device's charge level across rounds.
 */
function makeRound(
  poll: number,
  changing: number,
  levels: number[],
  offsetPoll = 0,
): DeviceSample[] {
  const samples: DeviceSample[] = [];
  const polledAt = T0 + (poll + offsetPoll) * 5 * MINUTE;
  for (let device = 0; device < DEVICES; device += 1) {
    const changes = (device * 7919 + poll * 104729) % 1000 < changing * 1000;
    const previous = levels[device] ?? 40;
    const level = changes ? 40 + ((previous - 40 + 5) % 50) : previous;
    levels[device] = level;
    samples.push(makeSample(`tesla:bench-${device}`, polledAt, level));
  }
  return samples;
}

/** Starts a differ on what is on the input topic, times it to the end, stops it. */
async function runDiffer(
  kafka: Kafka,
  admin: Admin,
  config: DifferConfig,
  topics: Topics,
  label: string,
  records: number,
) {
  const registry = new Registry();
  const metrics = createDifferMetrics(registry);
  const logger = createLogger({ service: 'differ', level: 'warn' });
  const startedAt = performance.now();
  const differ = await startDiffer({ config, logger, metrics, kafka });
  await waitUntil(() => differ.isReady());
  const readyAt = performance.now();
  const groupId = consumerGroupId('differ', config.connectivity.topicPrefix);
  await waitForCommitted(admin, groupId, topics['device-state.v1']);
  const doneAt = performance.now();
  await differ.stop();

  const events = (await registry.getSingleMetric('gridpulse_differ_events_out_total')!.get())
    .values;
  const aborts = (
    await registry.getSingleMetric('gridpulse_differ_transaction_aborts_total')!.get()
  ).values;
  const restore = (
    await registry.getSingleMetric('gridpulse_differ_restore_duration_seconds')!.get()
  ).values;
  const txn = (
    await registry.getSingleMetric('gridpulse_differ_transaction_duration_seconds')!.get()
  ).values;
  report(label, {
    records,
    recordsPerSecond: Math.round(records / ((doneAt - readyAt) / 1000)),
    processingMs: Math.round(doneAt - readyAt),
    startAndRestoreMs: Math.round(readyAt - startedAt),
    restoreSecondsSum: round(sumOf(restore, '_sum')),
    events: Object.fromEntries(events.map((v) => [String(v.labels.type), v.value])),
    transactionAborts: aborts.reduce((sum, v) => sum + v.value, 0),
    transactions: sumOf(txn, '_count'),
    transactionSecondsSum: round(sumOf(txn, '_sum')),
  });
}

/**
 * The ceiling: a kafkajs consumer group reading every record of the input topic and writing one
 * record of the same size per input record (no decoding, no rules, no transactions; offsets
 * auto-committed), on the same broker and partitions.
 */
async function runCeiling(kafka: Kafka, admin: Admin, topics: Topics, records: number) {
  const sink = `${topics['events.v1']}.ceiling`;
  await admin.createTopics({
    topics: [{ topic: sink, numPartitions: PARTITIONS }],
    waitForLeaders: true,
  });
  const groupId = `${topics['device-state.v1']}.ceiling`;
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: topics['device-state.v1'], fromBeginning: true });
  const startedAt = performance.now();
  let firstBatchAt = 0;
  await consumer.run({
    partitionsConsumedConcurrently: PARTITIONS,
    eachBatch: async ({ batch }) => {
      firstBatchAt ||= performance.now();
      const messages = batch.messages.map((message) => ({
        key: message.key,
        value: message.value,
      }));
      for (let i = 0; i < messages.length; i += 250) {
        await producer.send({ topic: sink, messages: messages.slice(i, i + 250) });
      }
    },
  });
  await waitForCommitted(admin, groupId, topics['device-state.v1']);
  const doneAt = performance.now();
  await consumer.disconnect();
  await producer.disconnect();
  await admin.deleteTopics({ topics: [sink] }).catch(() => undefined);
  report('ceiling: plain kafkajs consume-and-produce loop', {
    records,
    recordsPerSecond: Math.round(records / ((doneAt - firstBatchAt) / 1000)),
    processingMs: Math.round(doneAt - firstBatchAt),
    joinMs: Math.round(firstBatchAt - startedAt),
  });
}

/** Heap taken by the pure state store (snapshots as the rules build them) for `devices`. */
function measureStoreMemory(devices: number): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const rules = defaultRuleConfig();
  gc();
  const before = process.memoryUsage().heapUsed;
  const store = new Map<string, DeviceSnapshot>();
  for (let device = 0; device < devices; device += 1) {
    const sample = makeSample(`tesla:${String(1_000_000 + device)}`, T0, 40 + (device % 50));
    store.set(sample.deviceId, applySample(undefined, sample, rules).next!);
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  report('state store memory', {
    devices: store.size,
    heapDeltaMiB: round((after - before) / 1024 / 1024),
    bytesPerDevice: Math.round((after - before) / devices),
  });
}

async function produce(kafka: Kafka, serde: AvroSerde, topics: Topics, samples: DeviceSample[]) {
  const topic = topics['device-state.v1'];
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < samples.length; i += 2000) {
    const slice = samples.slice(i, i + 2000);
    const messages = await Promise.all(
      slice.map(async (sample) => ({
        key: sample.deviceId,
        value: await serde.encode(topic, 'device-state', sample),
      })),
    );
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
}

async function waitForCommitted(admin: Admin, groupId: string, topic: string): Promise<void> {
  const ends = await admin.fetchTopicOffsets(topic);
  const target = ends.reduce((sum, { high }) => sum + Number(high), 0);
  await waitUntil(async () => {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const sum = (committed?.partitions ?? []).reduce(
      (s, { offset }) => s + Math.max(0, Number(offset)),
      0,
    );
    return sum >= target;
  }, 50);
}

async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + 600_000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('bench: timed out');
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function makeSample(deviceId: string, polledAt: number, chargePercentage: number): DeviceSample {
  const state = makeBatteryState(polledAt - 1000, { charge: 13500, chargePercentage });
  return makeDeviceState(polledAt, { connectionId: 'conn-bench', state }, deviceId);
}

function report(what: string, figures: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ bench: 'differ', what, ...figures })}\n`);
}

/** prom-client's histogram values carry `metricName` (`<name>_sum`, ...) beyond its typings. */
function sumOf(values: Array<{ value: number }>, suffix: string): number {
  const named = values as Array<{ value: number; metricName?: string }>;
  return named.find((v) => v.metricName?.endsWith(suffix))?.value ?? 0;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
