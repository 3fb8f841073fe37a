import pino from 'pino';
import type { Kafka } from 'kafkajs';
import type { ConnectivityConfig } from './config';
import {
  CommonErrorCode,
  findKafkaConnectionError,
  GridpulseError,
  isGridpulseError,
} from './errors';
import { createKafka } from './kafka';
import { createLogger } from './logger';

/**
 * Kafka for a command line: a person is waiting, so it gives up after a few seconds instead
 * of the services' minute of retries. kafkajs' own lines stay off the terminal unless
 * LOG_LEVEL is set, and then go to stderr, so that `--json` output stays clean.
 */
export function createCliKafka(config: ConnectivityConfig, env = process.env): Kafka {
  const level = env.LOG_LEVEL === undefined ? 'silent' : config.logLevel;
  const logger = createLogger({ service: 'cli', level, destination: pino.destination(2) });
  return createKafka(config, logger, { retries: 2, connectionTimeoutMs: 3_000 });
}

/**
 * Fails with GP_TOPIC_MISSING naming the first missing topic, before a command waits on it:
 * kafkajs retries an unknown topic as if it were about to appear.
 */
export async function requireTopics(
  kafka: Kafka,
  config: ConnectivityConfig,
  topics: string[],
): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length === 0) return;
    throw new GridpulseError(
      CommonErrorCode.topicMissing,
      `${missing.length === 1 ? 'topic' : 'topics'} ${missing.join(', ')} ` +
        `${missing.length === 1 ? 'does' : 'do'} not exist on ${config.kafka.brokers.join(',')}: ` +
        'create the topics with `gridpulse topics` (same KAFKA_BROKERS and GRIDPULSE_TOPIC_PREFIX)',
      { context: { topics: missing } },
    );
  } catch (err) {
    throw explainCliError(err, config);
  } finally {
    await admin.disconnect();
  }
}

/**
 * What a person can act on, for the failures a command line meets most: Kafka or the
 * registry out of reach. Anything else is returned as it is.
 */
export function explainCliError(err: unknown, config: ConnectivityConfig): unknown {
  if (isRegistryDown(err)) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return new GridpulseError(
      CommonErrorCode.registryUnavailable,
      `cannot reach the schema registry at ${config.registry.url}${cause}: ` +
        'check SCHEMA_REGISTRY_URL, or start the local stack with `gridpulse stack up`',
      { cause: err, retriable: true, context: { url: config.registry.url } },
    );
  }

  const connectionError = findKafkaConnectionError(err);
  if (connectionError) {
    const brokers = config.kafka.brokers.join(',');
    return new GridpulseError(
      CommonErrorCode.kafkaUnreachable,
      `cannot reach Kafka at ${brokers} (${connectionError.message}): ` +
        'check KAFKA_BROKERS, or start the local stack with `gridpulse stack up`',
      { cause: err, retriable: true, context: { brokers: config.kafka.brokers } },
    );
  }
  return err;
}

/** Whether `err` is the schema registry out of reach (when registering or decoding). */
export function isRegistryDown(err: unknown): err is GridpulseError {
  return (
    isGridpulseError(err, CommonErrorCode.registryUnavailable) ||
    (isGridpulseError(err, CommonErrorCode.recordUndecodable) && err.retriable)
  );
}
