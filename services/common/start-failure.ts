import type { DestinationStream } from 'pino';
import { CommonErrorCode, findKafkaConnectionError, isGridpulseError } from './errors';
import { createLogger } from './logger';

/**
 * The end of every service's main when start-up fails: one fatal JSON line with the error's
 * `code`, then exit code 1. Use as `main().catch(exitOnStartFailure('poller'))`.
 */
export function exitOnStartFailure(service: string): (err: unknown) => never {
  return (err) => {
    logStartFailure(service, err);
    process.exit(1);
  };
}

/**
 * Logs with a logger of its own: the configuration, log level included, may be what failed.
 * A configuration error is a value the operator mistyped, not a bug: its line carries the
 * code, the message naming every bad key and the keys, without a stack.
 */
export function logStartFailure(
  service: string,
  err: unknown,
  destination?: DestinationStream,
): void {
  const logger = createLogger({ service, destination });
  if (isGridpulseError(err, CommonErrorCode.configInvalid)) {
    const { name: type, code, retriable, message, context } = err;
    // As it is: pino's error serializer would add an empty stack and call its type Object.
    const plain = logger.child({}, { serializers: { err: (value: unknown) => value } });
    plain.fatal({ err: { type, code, retriable, message, context } }, 'failed to start');
    return;
  }
  const connectionError = findKafkaConnectionError(err);
  if (connectionError) {
    // kafkajs' own error says only "Connection error: connect ECONNREFUSED …", under a stack.
    const brokers = process.env.KAFKA_BROKERS ?? '(KAFKA_BROKERS not set)';
    const plain = logger.child({}, { serializers: { err: (value: unknown) => value } });
    plain.fatal(
      {
        err: {
          type: 'GridpulseError',
          code: CommonErrorCode.kafkaUnreachable,
          retriable: true,
          message:
            `cannot reach Kafka at ${brokers} after the start-up retries ` +
            `(${connectionError.message}): check KAFKA_BROKERS and the brokers`,
        },
      },
      'failed to start',
    );
    return;
  }
  logger.fatal({ err }, 'failed to start');
}
