/**
 * The base of every gridpulse error. Callers branch on `code` (never on message text) and on
 * `retriable` to decide between retrying and giving up. Every code is listed in docs/errors.md;
 * test/common/errors.test.ts fails when one is missing there.
 */
export class GridpulseError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly context: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    options: { retriable?: boolean; cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GridpulseError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.context = options.context ?? {};
  }
}

export function isGridpulseError(err: unknown, code?: string): err is GridpulseError {
  return err instanceof GridpulseError && (code === undefined || err.code === code);
}

/** Codes raised by the common module. Each service keeps its own list in its errors.ts. */
export const CommonErrorCode = {
  configInvalid: 'GP_CONFIG_INVALID',
  schemaNotFound: 'GP_SCHEMA_NOT_FOUND',
  schemaRejected: 'GP_SCHEMA_REJECTED',
  registryUnavailable: 'GP_REGISTRY_UNAVAILABLE',
  recordUndecodable: 'GP_RECORD_UNDECODABLE',
  topicMisconfigured: 'GP_TOPIC_MISCONFIGURED',
  topicUnavailable: 'GP_TOPIC_UNAVAILABLE',
  topicMissing: 'GP_TOPIC_MISSING',
  kafkaUnreachable: 'GP_KAFKA_UNREACHABLE',
} as const;

/** The kafkajs connection failure under `err` (its cause chain), if that is what it is. */
export function findKafkaConnectionError(err: unknown): Error | undefined {
  for (let cause = err, depth = 0; cause instanceof Error && depth < 10; depth += 1) {
    if (/^KafkaJS(Connection|ConnectionClosed|BrokerNotFound)Error$/.test(cause.name)) {
      return cause;
    }
    cause = cause.cause;
  }
  return undefined;
}
