import { Kafka, logLevel as KafkaLogLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { ConnectivityConfig } from './config';
import type { Logger } from './logger';

/**
 * A kafkajs client whose log lines go through our logger, so operators see one format.
 * kafkajs logs at ERROR the protocol errors it then retries by itself (a coordinator still
 * loading, a leader moving); a failure it gives up on reaches our code as a thrown error, which
 * the service logs at error. So kafkajs' own lines are warn at most.
 */
export function createKafka(
  config: ConnectivityConfig,
  logger: Logger,
  options: KafkaClientOptions = {},
): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  const { kafka } = config;

  return new Kafka({
    clientId: kafka.clientId,
    brokers: kafka.brokers,
    ssl: kafka.ssl,
    sasl: kafka.sasl as SASLOptions | undefined,
    connectionTimeout: options.connectionTimeoutMs ?? 5_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, retries: options.retries ?? 8 },
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry) => writeKafkaLog(kafkaLogger, entry),
  });
}

/**
 * The services keep the defaults: a broker away for a while is waited out. A command line
 * gives up sooner (services/common/cli-kafka.ts).
 */
export interface KafkaClientOptions {
  retries?: number;
  connectionTimeoutMs?: number;
}

/**
 * Printed for every idempotent or transactional producer, because they inherit the client's
 * finite retries. Finite on purpose: a send that keeps failing must reach our code as an
 * error (the differ aborts its transaction, the poller's cycle fails and polls again) rather
 * than block a worker forever, and a resend after that is harmless (an aborted transaction is
 * invisible to read_committed consumers, and the differ drops a state it has seen as stale).
 */
const EXPECTED_WARNINGS = new Set([
  'Limiting retries for the idempotent producer may invalidate EoS guarantees',
]);

function writeKafkaLog(logger: Logger, { level, log }: LogEntry): void {
  const { message, timestamp: _timestamp, logger: _origin, ...fields } = log;
  if (EXPECTED_WARNINGS.has(message)) {
    logger.debug(fields, message);
  } else if (level === KafkaLogLevel.ERROR || level === KafkaLogLevel.WARN) {
    logger.warn(fields, message);
  } else if (level === KafkaLogLevel.INFO) {
    logger.info(fields, message);
  } else {
    logger.debug(fields, message);
  }
}

/** kafkajs prints a partitioner notice on every producer unless told not to. */
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/**
 * kafkajs' request queue calls setTimeout(throttledUntil - Date.now()) with throttledUntil
 * = -1 when nothing is throttled (kafkajs issue #1751; the fix is not released). Node 24 warns
 * TimeoutNegativeWarning for it on stderr, in every service and CLI command; Node 20 and 22
 * say nothing, and all of them wait 1 ms, which is what kafkajs means. Only that warning, a
 * delay of about minus the epoch time, is dropped; any other negative delay is still reported.
 */
const KAFKAJS_NEGATIVE_DELAY = /^-\d{12,} is a negative number\./;
const FILTERED = Symbol.for('gridpulse.kafkajsWarningFilter');
if (!(process.emitWarning as unknown as Record<symbol, boolean>)[FILTERED]) {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  const filtered = (warning: unknown, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: unknown })?.type;
    const isKafkajsDelay =
      type === 'TimeoutNegativeWarning' && KAFKAJS_NEGATIVE_DELAY.test(String(warning));
    if (!isKafkajsDelay) emitWarning(warning, ...rest);
  };
  Object.assign(filtered, { [FILTERED]: true });
  process.emitWarning = filtered as typeof process.emitWarning;
}
