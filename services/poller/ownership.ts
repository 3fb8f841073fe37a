import type { Consumer, EachBatchPayload, Kafka, TopicPartitionOffsetAndMetadata } from 'kafkajs';
import type { AvroSerde } from '../common/avro';
import type { CredentialsKey } from '../common/credentials-crypto';
import { isGridpulseError } from '../common/errors';
import type { Logger } from '../common/logger';
import { fetchTopicOffsets } from '../common/topic-offsets';
import { coPartitionedAssigner } from './co-partitioned-assigner';
import type { Connection } from './connection';
import { decodeConnectionMessage, type ConnectionChange } from './connection-store';

/*
 * Which connections this replica polls, and which device commands it runs.
 *
 * One consumer group (`gridpulse.poller`) subscribes to connections.v1 and commands.v1. Both
 * are keyed by connection id with the same partition count, so one partition number holds the
 * same connections in both. The group's assigner (co-partitioned-assigner.ts) hands each member
 * partition *numbers*, i.e. the same numbers of both topics: the replica that polls a
 * connection is the one that reads its commands, and only that replica holds the connection's
 * (single-use) refresh token. startPoller refuses to start when the two counts differ.
 *
 * connections.v1: the group never commits its offsets. kafkajs builds a fresh offset manager
 * on every (re)join and, with no committed offset and fromBeginning, starts each assigned
 * partition at its earliest offset, so every assignment replays the compacted partition from
 * the start and rebuilds exactly that partition's connections. GROUP_JOIN (emitted after
 * SyncGroup, before the first fetch) carries the new assignment: partitions no longer in it are
 * released at once; the others are re-read into a staging map and adopted in one swap when the
 * replay reaches the high watermark (an empty partition is adopted at once). Until then the
 * partition's previous connections (if it stayed with us) keep polling, and a half-replayed
 * partition never polls with an old revision of a rotated refresh token. A revision that
 * cannot be read (undecryptable credentials, malformed record) replaces the older one as
 * "not pollable": polling on with the previous credentials could write them back over the
 * newer revision when they rotate.
 *
 * commands.v1: offsets are committed (by the executor's transactions). A command batch of
 * partition N is handed to the executor only once connections.v1 partition N is adopted;
 * before that the batch is left unresolved and fetched again, because kafkajs fetches again
 * only after every batch of the previous fetch is done, and the rest of the replay must not
 * wait behind a command.
 *
 * Limitation: kafkajs uses the eager rebalance protocol and has no revoke callback, so between
 * the broker starting a rebalance and GROUP_JOIN the old owner may still start a cycle (or a
 * command) while the new owner is replaying; the window is one SyncGroup round trip plus the
 * replay, and a cycle started in it can at worst poll a connection twice in one interval (a
 * command then runs twice: they are setpoints, so the device ends as if it ran once).
 */

export interface OwnershipHandlers {
  /** A partition is ours and fully read: these are its connections (tombstones applied). */
  adoptPartition(partition: number, connections: Connection[]): void;
  /** A revision arriving on a partition we own, after it was adopted. */
  applyChange(partition: number, change: ConnectionChange): void;
  /** The partition went to another replica: stop polling its connections. */
  releasePartition(partition: number): void;
  /** The latest revision of a connection cannot be used (`err` is coded, carries no secret). */
  rejectConnection(partition: number, connectionId: string, err: unknown): void;
  /** Commands of a partition whose connections are adopted. Resolve the offsets handled. */
  runCommands(payload: EachBatchPayload, commit: CommitOffsets): Promise<void>;
}

export type CommitOffsets = (offsets: TopicPartitionOffsetAndMetadata[]) => Promise<void>;

export interface ConnectionOwnership {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True once the consumer joined the group at least once. */
  hasJoined(): boolean;
  ownedPartitions(): number[];
  /** connections.v1 partition `partition` is ours and fully replayed. */
  isAdopted(partition: number): boolean;
}

/** How long an unresolved command batch waits before it is fetched again. */
const COMMANDS_RECHECK_MS = 100;

export function createConnectionOwnership(options: {
  kafka: Kafka;
  serde: AvroSerde;
  topics: { connections: string; commands: string };
  groupId: string;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  credentialsKey: CredentialsKey | undefined;
  handlers: OwnershipHandlers;
  logger: Logger;
}): ConnectionOwnership {
  const { kafka, serde, handlers, credentialsKey } = options;
  const topic = options.topics.connections;
  const commandsTopic = options.topics.commands;
  const logger = options.logger.child({ component: 'ownership', topic });
  const partitions = new Map<number, PartitionState>();
  let consumer: Consumer | undefined;
  let joined = false;

  function adopt(partition: number, state: PartitionState): void {
    if (partitions.get(partition) !== state || state.adopted) return;
    state.adopted = true;
    const connections: Connection[] = [];
    for (const [connectionId, entry] of state.staging) {
      if (entry instanceof Rejected) handlers.rejectConnection(partition, connectionId, entry.err);
      else if (entry) connections.push(entry);
    }
    state.staging.clear();
    handlers.adoptPartition(partition, connections);
    logger.info({ partition, connections: connections.length }, 'partition adopted');
  }

  async function adoptEmptyPartitions(assigned: number[]): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await fetchTopicOffsets(admin, topic);
      for (const { partition, high, low } of offsets) {
        const state = partitions.get(partition);
        if (state && assigned.includes(partition) && Number(high) <= Number(low)) {
          adopt(partition, state);
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  async function readConnections({ batch, resolveOffset, heartbeat }: EachBatchPayload) {
    const state = partitions.get(batch.partition);
    if (!state) return;
    for (const message of batch.messages) {
      const change = await decodeOrReject(message, batch.partition);
      if (change instanceof Rejected) {
        // During the replay only the latest revision counts: a later readable one wins.
        if (!state.adopted) state.staging.set(change.connectionId, change);
        else {
          handlers.rejectConnection(batch.partition, change.connectionId, change.err);
          handlers.applyChange(batch.partition, {
            connectionId: change.connectionId,
            connection: null,
          });
        }
      } else if (change) {
        if (state.adopted) handlers.applyChange(batch.partition, change);
        else state.staging.set(change.connectionId, change.connection);
      }
      resolveOffset(message.offset);
    }
    if (Number(batch.lastOffset()) + 1 >= Number(batch.highWatermark)) {
      adopt(batch.partition, state);
    }
    await heartbeat();
  }

  return {
    async start() {
      const group = kafka.consumer({
        groupId: options.groupId,
        sessionTimeout: options.sessionTimeoutMs,
        heartbeatInterval: options.heartbeatIntervalMs,
        rebalanceTimeout: Math.max(options.sessionTimeoutMs, 10_000),
        partitionAssigners: [coPartitionedAssigner],
        allowAutoTopicCreation: false,
      });
      consumer = group;
      group.on(group.events.GROUP_JOIN, ({ payload }) => {
        joined = true;
        const assigned = payload.memberAssignment[topic] ?? [];
        for (const partition of [...partitions.keys()]) {
          if (assigned.includes(partition)) continue;
          partitions.delete(partition);
          handlers.releasePartition(partition);
          logger.info({ partition }, 'partition released');
        }
        for (const partition of assigned) {
          partitions.set(partition, { adopted: false, staging: new Map() });
        }
        logger.info(
          {
            partitions: assigned,
            commandPartitions: payload.memberAssignment[commandsTopic] ?? [],
          },
          'partitions assigned',
        );
        adoptEmptyPartitions(assigned).catch((err: unknown) => {
          logger.warn({ err }, 'could not read partition offsets');
        });
      });
      // A fetch that ends in transaction markers only (the admin API writes connections in
      // transactions) never reaches eachBatch; kafkajs still reports where the batch ended.
      group.on(group.events.END_BATCH_PROCESS, ({ payload }) => {
        const state = partitions.get(payload.partition);
        const reachedEnd = Number(payload.lastOffset) + 1 >= Number(payload.highWatermark);
        if (payload.topic === topic && state && reachedEnd) adopt(payload.partition, state);
      });

      group.on(group.events.CRASH, ({ payload }) => {
        // kafkajs restarts the consumer after a retriable error; otherwise this replica no
        // longer polls or runs commands and must be restarted.
        const level = payload.restart ? 'warn' : 'error';
        logger[level]({ err: payload.error, restart: payload.restart }, 'consumer crashed');
      });

      await group.connect();
      await group.subscribe({ topics: [topic, commandsTopic], fromBeginning: true });
      const commit: CommitOffsets = (offsets) => group.commitOffsets(offsets);
      await group.run({
        autoCommit: false,
        // Offsets are resolved by hand: a command batch waiting for its connections is left
        // unresolved so that it is fetched again.
        eachBatchAutoResolve: false,
        // A command waiting on the OEM must not hold up the replay of connections.
        partitionsConsumedConcurrently: 4,
        eachBatch: async (payload) => {
          if (payload.batch.topic === topic) return readConnections(payload);
          if (partitions.get(payload.batch.partition)?.adopted) {
            return handlers.runCommands(payload, commit);
          }
          await new Promise((resolve) => setTimeout(resolve, COMMANDS_RECHECK_MS));
        },
      });
    },
    async stop() {
      await consumer?.disconnect();
      consumer = undefined;
    },
    hasJoined: () => joined,
    ownedPartitions: () => [...partitions.keys()].sort((a, b) => a - b),
    isAdopted: (partition) => partitions.get(partition)?.adopted === true,
  };

  async function decodeOrReject(
    message: Parameters<typeof decodeConnectionMessage>[1] & { offset: string },
    partition: number,
  ): Promise<ConnectionChange | Rejected | null> {
    try {
      return await decodeConnectionMessage(serde, message, credentialsKey);
    } catch (err) {
      // An unreachable registry is retried (kafkajs re-fetches the batch); a record that can
      // never be read must not stop the partition.
      if (isGridpulseError(err) && err.retriable) throw err;
      const connectionId = message.key?.toString('utf8');
      if (!connectionId) {
        logger.warn({ err, partition, offset: message.offset }, 'connection record skipped');
        return null;
      }
      return new Rejected(connectionId, err);
    }
  }
}

/** A revision that cannot be used (undecryptable, malformed); `err` is coded. */
class Rejected {
  constructor(
    readonly connectionId: string,
    readonly err: unknown,
  ) {}
}

interface PartitionState {
  adopted: boolean;
  /** Latest revision per connection id during the replay; null = tombstone. */
  staging: Map<string, Connection | Rejected | null>;
}
