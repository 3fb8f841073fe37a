import type { Consumer } from 'kafkajs';
import { createAvroSerde } from '../../services/common/avro';
import { parseEnv } from '../../services/common/config';
import type { SimAccount } from '../../services/oem-simulator/types';
import { pollerEnvSchema, toPollerConfig, type PollerConfig } from '../../services/poller/config';
import type { Connection } from '../../services/poller/connection';
import { connectionFromSimAccount } from '../../services/poller/connection-registration';
import { createConnectionWriter } from '../../services/poller/connection-store';
import type { DeviceState } from '../../services/common/device-state';
import type { TestKafka } from '../support/kafka';

/** Env for a poller pointed at a simulator and at the test's Kafka/registry/prefix. */
export function pollerEnv(
  testKafka: TestKafka,
  simUrl: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    KAFKA_BROKERS: testKafka.config.kafka.brokers.join(','),
    SCHEMA_REGISTRY_URL: testKafka.config.registry.url,
    GRIDPULSE_TOPIC_PREFIX: testKafka.config.topicPrefix,
    TESLA_API_URL: `${simUrl}/tesla`,
    TESLA_AUTH_URL: `${simUrl}/tesla`,
    ENPHASE_API_URL: `${simUrl}/enphase`,
    ENPHASE_AUTH_URL: `${simUrl}/enphase`,
    POLL_INTERVAL_TESLA_SECONDS: '2',
    POLL_INTERVAL_ENPHASE_SECONDS: '2',
    OEM_RATE_LIMIT_PER_SECOND: '1000',
    OEM_BACKOFF_BASE_MS: '50',
    OEM_BACKOFF_MAX_MS: '200',
    POLLER_SESSION_TIMEOUT_MS: '6000',
    POLLER_HEARTBEAT_INTERVAL_MS: '500',
    METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    ...overrides,
  };
}

export function pollerConfig(
  testKafka: TestKafka,
  simUrl: string,
  overrides: Record<string, string> = {},
): PollerConfig {
  const config = toPollerConfig(parseEnv(pollerEnvSchema, pollerEnv(testKafka, simUrl, overrides)));
  return { ...config, connectivity: testKafka.config };
}

/** Registers every simulated account as a connection, the way `connections add` does. */
export async function registerAccounts(
  testKafka: TestKafka,
  accounts: SimAccount[],
): Promise<Connection[]> {
  const connections = accounts.map((account) => connectionFromSimAccount(account));
  const producer = testKafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const writer = createConnectionWriter({
      producer,
      serde: createAvroSerde(testKafka.config),
      topic: testKafka.topics['connections.v1'],
    });
    for (const connection of connections) await writer.put(connection);
  } finally {
    await producer.disconnect();
  }
  return connections;
}

/** A separate consumer decoding device-state.v1 from the beginning, as the differ would. */
export async function collectDeviceStates(
  testKafka: TestKafka,
): Promise<{ records: DeviceState[]; stop: () => Promise<void> }> {
  const serde = createAvroSerde(testKafka.config);
  const records: DeviceState[] = [];
  const consumer: Consumer = testKafka.kafka.consumer({
    groupId: `${testKafka.config.topicPrefix}.collector`,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: testKafka.topics['device-state.v1'], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value) records.push(await serde.decode<DeviceState>(message.value));
    },
  });
  return { records, stop: () => consumer.disconnect() };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
