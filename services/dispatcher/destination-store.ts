import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { isRetriableError, type AvroSerde } from '../common/avro';
import type { Logger } from '../common/logger';
import type { Destination } from './destination';
import { DispatcherErrorCode, dispatcherError } from './errors';
import { fetchTopicOffsets } from '../common/topic-offsets';

/** Every destination, as the latest record on destinations.v1 says, kept current. */
export interface DestinationStore {
  get(id: string): Destination | undefined;
  all(): Destination[];
  isReady(): boolean;
  onChange(listener: (id: string, destination: Destination | undefined) => void): void;
  stop(): Promise<void>;
}

/**
 * Reads destinations.v1 from the beginning and keeps following it. Each replica uses a group of
 * its own (never committed) so that every replica sees every destination. Resolves once the
 * records present at start-up are loaded: matching events against a half-loaded set would
 * silently skip destinations.
 */
export async function startDestinationStore(options: {
  kafka: Kafka;
  serde: AvroSerde;
  topic: string;
  groupPrefix: string;
  logger: Logger;
  readyTimeoutMs?: number;
}): Promise<DestinationStore> {
  const { kafka, serde, topic, logger } = options;
  const destinations = new Map<string, Destination>();
  const listeners: Array<(id: string, destination: Destination | undefined) => void> = [];

  const admin = kafka.admin();
  await admin.connect();
  const offsets = await fetchTopicOffsets(admin, topic).finally(() => admin.disconnect());
  const waiting = new Map(
    offsets
      .filter((entry) => BigInt(entry.high) > BigInt(entry.low))
      .map((entry) => [entry.partition, BigInt(entry.high)]),
  );

  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  if (waiting.size === 0) markReady();

  const consumer = kafka.consumer({
    groupId: `${options.groupPrefix}.destinations.${randomUUID()}`,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        const id = message.key?.toString();
        if (!id) continue;
        const value = message.value ? await decode(serde, message.value, logger) : undefined;
        if (message.value && !value) continue;

        if (value) destinations.set(id, value);
        else destinations.delete(id);
        for (const listener of listeners) listener(id, value);
      }
      const high = waiting.get(batch.partition);
      if (high !== undefined && BigInt(batch.lastOffset()) + 1n >= high) {
        waiting.delete(batch.partition);
        if (waiting.size === 0) markReady();
      }
    },
  });

  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          dispatcherError(
            DispatcherErrorCode.destinationsUnavailable,
            'destinations not loaded in time',
            { retriable: true, context: { topic, timeoutMs } },
          ),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([ready, timedOut]);
  } catch (err) {
    await consumer.disconnect();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  logger.info({ topic, destinations: destinations.size }, 'destinations loaded');

  return {
    get: (id) => destinations.get(id),
    all: () => [...destinations.values()],
    isReady: () => waiting.size === 0,
    onChange: (listener) => listeners.push(listener),
    stop: () => consumer.disconnect(),
  };
}

async function decode(
  serde: AvroSerde,
  value: Buffer,
  logger: Logger,
): Promise<Destination | undefined> {
  try {
    return await serde.decode<Destination>(value);
  } catch (err) {
    // Registry unreachable: fail the batch, which kafkajs fetches again. Skipping would drop
    // the destination and every delivery to it until its next change.
    if (isRetriableError(err)) throw err;
    logger.warn({ err }, 'destination record skipped');
    return undefined;
  }
}
