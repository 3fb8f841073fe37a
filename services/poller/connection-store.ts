import { randomBytes } from 'node:crypto';
import type { Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { AvroSerde } from '../common/avro';
import type { CredentialsKey } from '../common/credentials-crypto';
import { isGridpulseError } from '../common/errors';
import { fetchTopicOffsets } from '../common/topic-offsets';
import {
  CONNECTION_SCHEMA,
  fromConnectionRecord,
  toConnectionRecord,
  type Connection,
  type ConnectionRecord,
} from './connection';

export interface ConnectionWriter {
  /** Writes the connection and resolves once every in-sync replica has it (acks=all). */
  put(connection: Connection): Promise<void>;
  /** Writes a tombstone: compaction then forgets the connection. */
  remove(connectionId: string): Promise<void>;
}

/** A revision read from connections.v1: the connection, or null for a tombstone. */
export interface ConnectionChange {
  connectionId: string;
  connection: Connection | null;
}

/**
 * The producer must be idempotent (kafka.producer({ idempotent: true })): a retried send of
 * a rotated token must not land twice out of order behind an older revision. With
 * `credentialsKey`, every record is written encrypted under it.
 */
export function createConnectionWriter(options: {
  producer: Producer;
  serde: AvroSerde;
  topic: string;
  credentialsKey?: CredentialsKey;
}): ConnectionWriter {
  const { producer, serde, topic, credentialsKey } = options;
  return {
    async put(connection) {
      const record = toConnectionRecord(connection, credentialsKey);
      const value = await serde.encode(topic, CONNECTION_SCHEMA, record);
      await producer.send({ topic, acks: -1, messages: [{ key: connection.connectionId, value }] });
    },
    async remove(connectionId) {
      await producer.send({ topic, acks: -1, messages: [{ key: connectionId, value: null }] });
    },
  };
}

/** Throws GP_CREDENTIALS_UNDECRYPTABLE for an encrypted record `credentialsKey` cannot open. */
export async function decodeConnectionMessage(
  serde: AvroSerde,
  message: Pick<KafkaMessage, 'key' | 'value'>,
  credentialsKey?: CredentialsKey,
): Promise<ConnectionChange | null> {
  const connectionId = message.key?.toString('utf8');
  if (!connectionId) return null;
  if (!message.value) return { connectionId, connection: null };
  const record = await serde.decode<ConnectionRecord>(message.value);
  return { connectionId, connection: fromConnectionRecord(record, credentialsKey) };
}

/**
 * Reads the whole compacted topic once and returns the latest revision of every connection.
 * kafkajs has no manual partition assignment, so this joins a throw-away consumer group of
 * its own (deleted afterwards) and reads every partition up to the high watermark it saw first.
 *
 * `onInvalid` hears each record that cannot be decoded; a later tombstone or valid revision
 * of the same id reaches `onChange`. A retriable decode error (the registry unreachable) ends
 * the read and rejects with it: every further record would wait out the same registry retries
 * in vain, and a partial result would pass for the whole topic.
 */
export async function readAllConnections(options: {
  kafka: Kafka;
  serde: AvroSerde;
  topic: string;
  credentialsKey?: CredentialsKey;
  onInvalid?: (connectionId: string | null, err: unknown) => void;
  /** Hears every record that was decoded: its connection, or null for a tombstone. */
  onChange?: (change: ConnectionChange) => void;
}): Promise<Map<string, Connection>> {
  const { kafka, serde, topic, credentialsKey } = options;
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `gridpulse.connections-reader.${randomBytes(6).toString('hex')}`;
  const connections = new Map<string, Connection>();

  try {
    const offsets = await fetchTopicOffsets(admin, topic);
    const pending = new Map(
      offsets
        .filter((entry) => Number(entry.high) > Number(entry.low))
        .map((entry) => [entry.partition, Number(entry.high)]),
    );
    if (pending.size === 0) return connections;

    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let isAborted = false;
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              if (isAborted) return;
              for (const message of batch.messages) {
                try {
                  const change = await decodeConnectionMessage(serde, message, credentialsKey);
                  if (!change) continue;
                  if (change.connection) connections.set(change.connectionId, change.connection);
                  else connections.delete(change.connectionId);
                  options.onChange?.(change);
                } catch (err) {
                  if (isGridpulseError(err) && err.retriable) {
                    isAborted = true;
                    reject(err);
                    return;
                  }
                  options.onInvalid?.(message.key?.toString('utf8') ?? null, err);
                }
              }
              const end = pending.get(batch.partition);
              if (end !== undefined && Number(batch.lastOffset()) + 1 >= end) {
                pending.delete(batch.partition);
              }
              if (pending.size === 0) resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
      // The group only existed for this read; leaving it would clutter the broker's group list.
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    return connections;
  } finally {
    await admin.disconnect();
  }
}
