import { randomUUID } from 'node:crypto';
import type { Kafka, Message, Producer } from 'kafkajs';
import type { AvroSerde, SchemaName } from '../common/avro';
import { isGridpulseError } from '../common/errors';
import type { Logger } from '../common/logger';
import { AdminErrorCode, adminError } from './errors';

/** One record to write: encoded with `schema` under `<topic>-value`; value null is a tombstone. */
export interface PendingRecord {
  topic: string;
  schema: SchemaName;
  key: string;
  value: object | null;
}

export interface TransactionalWriter {
  /** Writes all records atomically: a reader (read_committed) sees all of them or none. */
  write(records: PendingRecord[]): Promise<void>;
  close(): Promise<void>;
}

const MAX_ATTEMPTS = 4;

/**
 * A resource record and the event about it go out in one Kafka transaction, so a crash can
 * neither leave a customer without its customer.created nor an event without its record.
 * kafkajs runs one transaction at a time per producer, so writes are queued.
 *
 * The transactional id is unique per process: there is no consume-transform-produce here, so
 * no zombie to fence, and two replicas must not fence each other.
 */
export async function createTransactionalWriter(options: {
  kafka: Kafka;
  serde: AvroSerde;
  logger: Logger;
  transactionalIdPrefix: string;
  onRetry?: () => void;
}): Promise<TransactionalWriter> {
  const { kafka, serde } = options;
  const logger = options.logger.child({ component: 'transactional-writer' });
  const producer: Producer = kafka.producer({
    transactionalId: `${options.transactionalIdPrefix}.${randomUUID()}`,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  let queue: Promise<unknown> = Promise.resolve();

  async function writeOnce(records: PendingRecord[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const record of records) {
      const value =
        record.value === null
          ? null
          : await serde.encode(record.topic, record.schema, record.value);
      const messages = byTopic.get(record.topic) ?? [];
      messages.push({ key: record.key, value });
      byTopic.set(record.topic, messages);
    }

    const transaction = await producer.transaction();
    try {
      for (const [topic, messages] of byTopic)
        await transaction.send({ topic, acks: -1, messages });
      await transaction.commit();
    } catch (err) {
      await transaction.abort().catch((abortErr: unknown) => {
        logger.debug({ err: abortErr }, 'abort after failed transaction failed');
      });
      throw err;
    }
  }

  async function writeWithRetries(records: PendingRecord[]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await writeOnce(records);
        return;
      } catch (err) {
        // Right after a broker start the transaction coordinator may still be loading; kafkajs
        // surfaces that as a retriable error instead of retrying itself.
        const retriable = isRetriable(err);
        if (!retriable || attempt >= MAX_ATTEMPTS) {
          throw adminError(AdminErrorCode.writeFailed, 'kafka write failed', {
            cause: err,
            retriable,
            context: { attempt, topics: [...new Set(records.map((record) => record.topic))] },
          });
        }
        options.onRetry?.();
        logger.warn({ err, attempt }, 'transaction retried');
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  return {
    write(records) {
      const result = queue.then(() => writeWithRetries(records));
      // The queue must go on after a failed write; the caller still sees the failure.
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      await queue;
      await producer.disconnect();
    },
  };
}

function isRetriable(err: unknown): boolean {
  if (isGridpulseError(err)) return err.retriable;
  const { retriable, name } = (err ?? {}) as { retriable?: unknown; name?: unknown };
  return retriable === true || name === 'KafkaJSConnectionError';
}
