import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Admin, Kafka } from 'kafkajs';
import {
  baseEnvSchema,
  parseEnv,
  toConnectivityConfig,
  type ConnectivityConfig,
} from '../../services/common/config';
import { createKafka } from '../../services/common/kafka';
import { createLogger, type Logger } from '../../services/common/logger';
import { provisionTopics } from '../../services/common/provision';
import {
  TOPIC_SPECS,
  resolveTopics,
  type TopicName,
  type Topics,
} from '../../services/common/topics';

/**
 * Connectivity for one test file: the stack global-setup started (or KAFKA_BROKERS), with a
 * topic prefix of its own so that test files share the broker without seeing each other.
 */
export function createTestConfig(service = 'test'): ConnectivityConfig {
  const env = parseEnv(baseEnvSchema, {
    ...process.env,
    GRIDPULSE_TOPIC_PREFIX: `t${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  });
  return toConnectivityConfig(env, service);
}

/** A logger that keeps its lines in memory, for asserting on log fields. */
export function createMemoryLogger(service = 'test'): {
  logger: Logger;
  lines: () => Array<Record<string, unknown>>;
} {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ service, level: 'trace', destination: sink });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        // pino appends a child's bindings to its parent's: a component handed an already
        // bound logger writes the key twice, and JSON.parse would hide it.
        for (const key of ['"service":', '"component":']) {
          if (line.indexOf(key) !== line.lastIndexOf(key))
            throw new Error(`log line with ${key} twice: ${line}`);
        }
        return JSON.parse(line) as Record<string, unknown>;
      });
  return { logger, lines };
}

export interface TestKafka {
  config: ConnectivityConfig;
  kafka: Kafka;
  admin: Admin;
  topics: Topics;
  /** Deletes every topic with this test's prefix and disconnects the admin client. */
  close(): Promise<void>;
}

/**
 * A Kafka client plus the named topics (all of them by default), created with the test's
 * prefix. `partitions` overrides every declared count, keeping co-partitioned topics equal.
 */
export async function setUpTestKafka(
  options: { only?: TopicName[]; partitions?: number; service?: string } = {},
): Promise<TestKafka> {
  const config = createTestConfig(options.service);
  const logger = createLogger({ service: 'test', level: config.logLevel });
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  await admin.connect();

  const topics = resolveTopics(config.topicPrefix);
  const specs = TOPIC_SPECS.filter((spec) => !options.only || options.only.includes(spec.name)).map(
    (spec) => ({ ...spec, partitions: options.partitions ?? spec.partitions }),
  );
  await provisionTopics(admin, topics, {
    replicationFactor: config.kafka.replicationFactor,
    specs,
  });

  // Topics die with the test file, so a long-lived developer stack does not pile them up.
  const close = async () => {
    const prefix = `${config.topicPrefix}.`;
    const own = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (own.length > 0) await admin.deleteTopics({ topics: own }).catch(() => undefined);
    await admin.disconnect();
  };
  return { config, kafka, admin, topics, close };
}

/** Resolves when `predicate` holds, polling every `intervalMs`; rejects after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 100, what = 'condition' } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
