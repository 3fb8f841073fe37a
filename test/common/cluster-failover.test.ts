import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { waitFor } from '../support/kafka';

/**
 * The three-broker stack (deploy/local/stack up --cluster): a broker killed with SIGKILL while an
 * acks=all producer writes loses none of the writes it acknowledged.
 */
const stack = path.join(__dirname, '../../deploy/local/stack');
const basePort = Number(process.env.CLUSTER_BASE_PORT ?? 19092);
const brokers = [0, 1, 2].map((i) => `127.0.0.1:${basePort + i}`);
const runStack = (...args: string[]) =>
  execFileSync(stack, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, KAFKA_HEAP: '384m' },
  });

describe('the three-broker stack', () => {
  const kafka = new Kafka({
    clientId: 'failover-test',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 10 },
  });
  const topic = 'failover-test';

  beforeAll(() => {
    runStack('up', '--cluster');
  }, 180_000);

  afterAll(() => {
    runStack('down', '--cluster');
  }, 60_000);

  it('keeps every acknowledged acks=all write when a partition leader is killed', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor: 3,
          configEntries: [{ name: 'min.insync.replicas', value: '2' }],
        },
      ],
    });
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const leader = metadata.topics[0]!.partitions[0]!.leader;

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const acknowledged: number[] = [];
    let failedSends = 0;
    const sendBatch = async (from: number) => {
      const values = Array.from({ length: 10 }, (_, i) => from + i);
      try {
        await producer.send({
          topic,
          acks: -1,
          messages: values.map((n) => ({ value: String(n) })),
        });
        acknowledged.push(...values);
      } catch {
        failedSends += 1; // not acknowledged: the producer gave up on this batch, the test allows it
      }
    };

    let next = 0;
    for (; next < 200; next += 10) await sendBatch(next);
    runStack('stop-broker', String(leader));
    const ackedBeforeKill = acknowledged.length;
    for (; next < 600; next += 10) await sendBatch(next);
    await producer.disconnect();

    expect(ackedBeforeKill).toBe(200);
    // The producer kept writing after the kill: most later batches were acknowledged.
    expect(acknowledged.length - ackedBeforeKill).toBeGreaterThanOrEqual(300);

    const seen = new Set<number>();
    const consumer = kafka.consumer({ groupId: 'failover-test-reader' });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => void seen.add(Number(message.value)),
    });
    await waitFor(() => acknowledged.every((n) => seen.has(n)), {
      timeoutMs: 60_000,
      what: 'every acknowledged write',
    });
    await consumer.disconnect();
    await admin.disconnect();

    expect(acknowledged.filter((n) => !seen.has(n))).toEqual([]);
    expect(failedSends).toBeLessThanOrEqual(10);
  }, 180_000);
});
