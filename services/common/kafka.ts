import { Kafka, logLevel as KafkaLogLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { ConnectivityConfig } from './config';
import type { Logger } from './logger';

/**
 * A kafkajs client whose log lines go through our logger, so operators see one format.
 * kafkajs logs at ERROR the protocol errors it then retries by itself (a coordinator still
 * loading, a leader moving); a failure it gives up on reaches our code as a thrown error, which
 * the service logs at error. So kafkajs' own lines are warn at most.
 */
export function createKafka(config: ConnectivityConfig, logger: Logger): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  const { kafka } = config;

  return new Kafka({
    clientId: kafka.clientId,
    brokers: kafka.brokers,
    ssl: kafka.ssl,
    sasl: kafka.sasl as SASLOptions | undefined,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, retries: 8 },
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry) => writeKafkaLog(kafkaLogger, entry),
  });
}

function writeKafkaLog(logger: Logger, { level, log }: LogEntry): void {
  const { message, timestamp: _timestamp, logger: _origin, ...fields } = log;
  if (level === KafkaLogLevel.ERROR || level === KafkaLogLevel.WARN) {
    logger.warn(fields, message);
  } else if (level === KafkaLogLevel.INFO) {
    logger.info(fields, message);
  } else {
    logger.debug(fields, message);
  }
}

/** kafkajs prints a partitioner notice on every producer unless told not to. */
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
