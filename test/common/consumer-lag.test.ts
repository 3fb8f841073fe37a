import { Kafka, logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import {
  CONSUMER_LAG_METRIC,
  fetchConsumerLag,
  registerConsumerLagMetric,
} from '../../services/common/consumer-lag';
import { setUpTestKafka, type TestKafka } from '../support/kafka';

describe('consumer lag', () => {
  let testKafka: TestKafka;
  let topic: string;
  let groupId: string;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({ only: ['device-state.v1'], partitions: 3 });
    topic = testKafka.topics['device-state.v1'];
    groupId = `${testKafka.config.topicPrefix}.lag-probe`;

    // 5 records on partition 0, 3 on partition 1, none on partition 2.
    // Idempotent: a retried send on a loaded machine must not add records the counts rely on.
    const producer = testKafka.kafka.producer({ idempotent: true });
    await producer.connect();
    const messages = (partition: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ partition, value: `r${i}` }));
    await producer.send({ topic, acks: -1, messages: [...messages(0, 5), ...messages(1, 3)] });
    await producer.disconnect();

    // The group has read 2 records of partition 0 and never committed on 1 or 2.
    await testKafka.admin.setOffsets({
      groupId,
      topic,
      partitions: [{ partition: 0, offset: '2' }],
    });
  });

  afterAll(async () => {
    await testKafka.close();
  });

  it('computes lag per partition from committed and end offsets', async () => {
    const rows = await fetchConsumerLag(testKafka.admin, groupId, [topic]);
    const byPartition = Object.fromEntries(rows.map((row) => [row.partition, row]));

    expect(rows).toHaveLength(3);
    expect(byPartition[0]).toMatchObject({ committedOffset: 2n, endOffset: 5n, lag: 3 });
    // Never committed: the whole retained log is still to read.
    expect(byPartition[1]).toMatchObject({ committedOffset: null, endOffset: 3n, lag: 3 });
    expect(byPartition[2]).toMatchObject({ committedOffset: null, endOffset: 0n, lag: 0 });
  });

  it('exposes the lag as a gauge computed on scrape', async () => {
    const registry = new Registry();
    registerConsumerLagMetric({
      registry,
      admin: testKafka.admin,
      groups: [{ groupId, topics: [topic] }],
    });

    const first = await registry.getSingleMetricAsString(CONSUMER_LAG_METRIC);
    expect(first).toContain(
      `${CONSUMER_LAG_METRIC}{group="${groupId}",topic="${topic}",partition="0"} 3`,
    );
    expect(first).toContain(
      `${CONSUMER_LAG_METRIC}{group="${groupId}",topic="${topic}",partition="1"} 3`,
    );

    // The next scrape sees the group's new position, not a cached value.
    await testKafka.admin.setOffsets({
      groupId,
      topic,
      partitions: [{ partition: 0, offset: '5' }],
    });
    const second = await registry.getSingleMetricAsString(CONSUMER_LAG_METRIC);
    expect(second).toContain(
      `${CONSUMER_LAG_METRIC}{group="${groupId}",topic="${topic}",partition="0"} 0`,
    );
  });

  it('keeps /metrics answering and counts the error when the brokers are unreachable', async () => {
    const unreachable = new Kafka({
      brokers: ['127.0.0.1:1'],
      connectionTimeout: 200,
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    });
    const registry = new Registry();
    registerConsumerLagMetric({
      registry,
      admin: unreachable.admin(),
      groups: [{ groupId, topics: [topic] }],
      timeoutMs: 2_000,
    });

    const text = await registry.metrics();

    expect(text).not.toMatch(new RegExp(`^${CONSUMER_LAG_METRIC}\\{`, 'm'));
    expect(text).toContain('gridpulse_kafka_consumer_lag_errors_total 1');
  });
});
