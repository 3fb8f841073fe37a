import type { Admin, Batch, Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { createAvroSerde, type AvroSerde } from '../common/avro';
import type { EventRecord } from '../common/events';
import { createKafka } from '../common/kafka';
import type { Logger } from '../common/logger';
import { consumerGroupId, resolveTopics, type Topics } from '../common/topics';
import { restoreSnapshots, type PartitionStore } from './changelog-restorer';
import type { DifferConfig } from './config';
import { toDeviceSample, type DeviceSnapshot } from './device-state';
import { DifferErrorCode, createDifferError } from './errors';
import type { DifferMetrics } from './metrics';
import { applySample, type SampleOutcome } from './rules';

export interface DifferOptions {
  config: DifferConfig;
  logger: Logger;
  metrics: DifferMetrics;
  /** Defaults to a client built from config.connectivity. */
  kafka?: Kafka;
  serde?: AvroSerde;
}

export interface DifferHandle {
  /** Joined the group and every assigned partition is restored. */
  isReady(): boolean;
  /** Input partitions this replica currently owns. */
  assignedPartitions(): number[];
  /** Devices in the stores of the owned partitions. */
  storeSize(): number;
  /** Stop fetching, finish the batch in flight, leave the group, close the producers. */
  stop(): Promise<void>;
}

/**
 * One owned input partition: its state store and the transactional producer that writes its
 * events, snapshots and offsets.
 */
interface PartitionTask {
  partition: number;
  producer: Producer;
  store: PartitionStore;
  /** The group's committed position once this replica fenced the previous owner. */
  committedOffset: bigint | null;
  isPositionChecked: boolean;
}

const RETRY_BACKOFF_MS = 250;
/** Messages per produce request inside a transaction; events are about 1.5 kB each. */
const SEND_CHUNK_MESSAGES = 500;

/**
 * Consumes device-state.v1 in the `gridpulse.differ` group and turns samples into device events,
 * exactly once: each batch's events, the new snapshots and the consumed offset are written in
 * one Kafka transaction by the partition's transactional producer.
 */
export async function startDiffer(options: DifferOptions): Promise<DifferHandle> {
  const { config, metrics } = options;
  const logger = options.logger.child({ component: 'differ' });
  const topics = resolveTopics(config.connectivity.topicPrefix);
  const groupId = consumerGroupId('differ', config.connectivity.topicPrefix);
  const kafka = options.kafka ?? createKafka(config.connectivity, options.logger);
  const serde = options.serde ?? createAvroSerde(config.connectivity);

  const admin = kafka.admin();
  await admin.connect();
  await assertCoPartitioned(admin, topics);
  // Register the schemas up front: a rejected (incompatible) schema stops the start, not a batch.
  await Promise.all([
    serde.register(topics['events.v1'], 'event'),
    serde.register(topics['device-snapshots.v1'], 'device-snapshot'),
  ]);

  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    // A killed replica's partitions move only after this. kafkajs heartbeats from its fetch
    // loop, not a timer, so a restore (which the first batch waits for) must also fit in it.
    // Limitation: a changelog partition too large to restore within the session timeout
    // makes the group evict this replica mid-restore; raise DIFF_SESSION_TIMEOUT_MS.
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 10)),
    rebalanceTimeout: 60_000,
  });

  const tasks = new Map<number, PartitionTask>();
  const preparing = new Map<number, Promise<Map<number, PartitionTask>>>();
  let assigned = new Set<number>();
  let hasJoined = false;
  let isStopping = false;

  const state = {
    kafka,
    admin,
    serde,
    topics,
    groupId,
    config,
    metrics,
    logger,
    tasks,
    preparing,
    isAssigned: (partition: number) => assigned.has(partition),
  };

  // kafkajs emits GROUP_JOIN synchronously after every sync, before fetching resumes, with the
  // new assignment: the rebalance hook it lacks. Stores of revoked partitions go at once;
  // restoring new ones starts now, and their first batch waits for it.
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    hasJoined = true;
    assigned = new Set(payload.memberAssignment[topics['device-state.v1']] ?? []);
    logger.info({ partitions: [...assigned].sort((a, b) => a - b) }, 'partitions assigned');
    for (const partition of [...tasks.keys()]) {
      if (!assigned.has(partition)) dropTask(state, partition, 'revoked');
    }
    const missing = [...assigned].filter((p) => !tasks.has(p) && !preparing.has(p));
    if (missing.length > 0) startPreparing(state, missing).catch(() => undefined);
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
  });

  await consumer.connect();
  await consumer.subscribe({ topic: topics['device-state.v1'], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: config.partitionsConcurrently,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (!isRunning() || isStale()) return;
      const task = await ensureTask(state, batch.partition);
      if (!task) return;

      if (!task.isPositionChecked) {
        task.isPositionChecked = true;
        const firstOffset = BigInt(batch.firstOffset() ?? '0');
        if (task.committedOffset !== null && firstOffset < task.committedOffset) {
          // A previous owner committed after kafkajs read the group's offsets but before this
          // replica fenced it: skip what it already covered.
          consumer.seek({
            topic: batch.topic,
            partition: batch.partition,
            offset: `${task.committedOffset}`,
          });
          return;
        }
      }

      await processBatch(state, task, batch, resolveOffset);
      await heartbeat();
    },
  });

  logger.info({ groupId, topic: topics['device-state.v1'] }, 'differ started');

  return {
    isReady: () => hasJoined && !isStopping && preparing.size === 0 && tasks.size === assigned.size,
    assignedPartitions: () => [...assigned].sort((a, b) => a - b),
    storeSize: () => countDevices(tasks),
    async stop() {
      if (isStopping) return;
      isStopping = true;
      logger.info({}, 'stopping: finishing the batch in flight');
      await consumer.disconnect();
      logger.info({}, 'consumer left the group');
      await Promise.all([...tasks.values()].map((task) => task.producer.disconnect()));
      tasks.clear();
      metrics.stateStoreDevices.set(0);
      logger.info({}, 'producers closed');
      await admin.disconnect();
    },
  };
}

type DifferState = {
  kafka: Kafka;
  admin: Admin;
  serde: AvroSerde;
  topics: Topics;
  groupId: string;
  config: DifferConfig;
  metrics: DifferMetrics;
  logger: Logger;
  tasks: Map<number, PartitionTask>;
  preparing: Map<number, Promise<Map<number, PartitionTask>>>;
  isAssigned: (partition: number) => boolean;
};

/**
 * The transactional id is per input partition, not per replica. kafkajs implements neither
 * KIP-447 (TxnOffsetCommit carrying the group generation) nor a rebalance callback, so the
 * broker can only fence a zombie through its transactional id: whoever owns partition p uses
 * `<group>.<topic>.<p>`, and the new owner's InitProducerId bumps the epoch, aborts or finishes
 * the old owner's open transaction and makes its later writes fail (INVALID_PRODUCER_EPOCH).
 * A per-replica id would let a replica that lost p still commit offsets and events for it.
 * Cost: one producer (and its connections) per owned partition.
 */
export function transactionalIdFor(groupId: string, topic: string, partition: number): string {
  return `${groupId}.${topic}.${partition}`;
}

async function ensureTask(state: DifferState, partition: number): Promise<PartitionTask | null> {
  const existing = state.tasks.get(partition);
  if (existing) return existing;
  const pending = state.preparing.get(partition) ?? startPreparing(state, [partition]);
  try {
    await pending;
    // Absent when the partition was revoked while it was being prepared.
    return state.tasks.get(partition) ?? null;
  } catch (err) {
    state.logger.warn({ err, partition }, 'partition restore failed, retrying');
    await delay(RETRY_BACKOFF_MS);
    return null;
  }
}

/** Fences the previous owners, reads the committed offsets, restores the stores. */
function startPreparing(
  state: DifferState,
  partitions: number[],
): Promise<Map<number, PartitionTask>> {
  const promise = preparePartitions(state, partitions).finally(() => {
    for (const partition of partitions) {
      if (state.preparing.get(partition) === promise) state.preparing.delete(partition);
    }
  });
  for (const partition of partitions) state.preparing.set(partition, promise);
  return promise;
}

async function preparePartitions(
  state: DifferState,
  partitions: number[],
): Promise<Map<number, PartitionTask>> {
  const { kafka, admin, topics, groupId, logger } = state;
  const inputTopic = topics['device-state.v1'];
  const startedAt = performance.now();
  const producers = new Map<number, Producer>();

  try {
    await Promise.all(
      partitions.map(async (partition) => {
        const producer = kafka.producer({
          transactionalId: transactionalIdFor(groupId, inputTopic, partition),
          idempotent: true,
          maxInFlightRequests: 1,
          transactionTimeout: 60_000,
          // The broker answers CONCURRENT_TRANSACTIONS to the next transaction's first request
          // while it is still writing the previous one's markers (a few ms). The client-wide
          // 300 ms first retry made each transaction cost about 0.8 s; the Java client backs
          // off 20 ms here. Limited retries are safe for a transactional producer (a failed
          // transaction is aborted whole), whatever kafkajs' warning about them says.
          retry: { initialRetryTime: 20, maxRetryTime: 2_000, retries: 12 },
        });
        producers.set(partition, producer);
        await producer.connect();
        // kafkajs sends InitProducerId (the fencing step) on the first transaction() only.
        const fence = await producer.transaction();
        await fence.abort();
      }),
    );

    const [offsets] = await admin.fetchOffsets({ groupId, topics: [inputTopic] });
    const stores = await restoreSnapshots({
      kafka,
      admin,
      serde: state.serde,
      topic: topics['device-snapshots.v1'],
      partitions,
      groupId,
      timeoutMs: state.config.restoreTimeoutMs,
      logger,
    });

    const prepared = new Map<number, PartitionTask>();
    for (const partition of partitions) {
      const producer = producers.get(partition)!;
      const committed = offsets?.partitions.find((entry) => entry.partition === partition)?.offset;
      const task: PartitionTask = {
        partition,
        producer,
        store: stores.get(partition) ?? new Map(),
        committedOffset: committed !== undefined && committed !== '-1' ? BigInt(committed) : null,
        isPositionChecked: false,
      };
      prepared.set(partition, task);
      if (state.isAssigned(partition)) {
        state.tasks.set(partition, task);
      } else {
        void producer.disconnect();
      }
    }

    const durationMs = Math.round(performance.now() - startedAt);
    state.metrics.restoreSeconds.observe(durationMs / 1000);
    state.metrics.stateStoreDevices.set(countDevices(state.tasks));
    logger.info({ partitions, devices: countDevices(prepared), durationMs }, 'partitions restored');
    return prepared;
  } catch (err) {
    await Promise.all(
      [...producers.values()].map((producer) => producer.disconnect().catch(() => undefined)),
    );
    throw err;
  }
}

/** Forgets a partition: its store, and its producer (a later owner fences it anyway). */
function dropTask(state: DifferState, partition: number, reason: string): void {
  const task = state.tasks.get(partition);
  if (!task) return;
  state.tasks.delete(partition);
  state.metrics.stateStoreDevices.set(countDevices(state.tasks));
  state.logger.info({ partition, reason }, 'partition dropped');
  task.producer.disconnect().catch((err: unknown) => {
    state.logger.debug({ err, partition }, 'producer disconnect failed');
  });
}

/**
 * Applies the rules to the batch slice by slice; each slice's events, snapshots and next offset
 * go out in one transaction, and its offset is resolved once committed. Returns false when the
 * rest of the batch must be fetched again: the store is then as it was before the failed slice
 * (rolled back, or dropped to be restored from the changelog).
 */
async function processBatch(
  state: DifferState,
  task: PartitionTask,
  batch: Batch,
  resolveOffset: (offset: string) => void,
): Promise<boolean> {
  const sliceSize = state.config.maxRecordsPerTransaction;
  for (let start = 0; start < batch.messages.length; start += sliceSize) {
    const slice = batch.messages.slice(start, start + sliceSize);
    const isLast = start + sliceSize >= batch.messages.length;
    // The last slice ends at the batch's last offset, which covers trailing transaction markers.
    const lastOffset = isLast ? batch.lastOffset() : slice[slice.length - 1]!.offset;
    if (!(await processSlice(state, task, slice, lastOffset))) return false;
    resolveOffset(lastOffset);
  }
  return true;
}

async function processSlice(
  state: DifferState,
  task: PartitionTask,
  messages: KafkaMessage[],
  lastOffset: string,
): Promise<boolean> {
  const { metrics } = state;
  const undo = new Map<string, DeviceSnapshot | undefined>();
  const snapshots = new Map<string, DeviceSnapshot>();
  const events: EventRecord[] = [];
  const outcomes = new Map<SampleOutcome | 'undecodable', number>();

  for (const message of messages) {
    const sample = await decodeSample(state, message, task.partition);
    if (!sample) {
      outcomes.set('undecodable', (outcomes.get('undecodable') ?? 0) + 1);
      continue;
    }
    const previous = task.store.get(sample.deviceId);
    const verdict = applySample(previous, sample, state.config.rules);
    outcomes.set(verdict.outcome, (outcomes.get(verdict.outcome) ?? 0) + 1);
    if (verdict.next) {
      if (!undo.has(sample.deviceId)) undo.set(sample.deviceId, previous);
      task.store.set(sample.deviceId, verdict.next);
      snapshots.set(sample.deviceId, verdict.next);
    }
    events.push(...verdict.events);
  }

  const nextOffset = (BigInt(lastOffset) + 1n).toString();
  const outcome = await writeTransaction(state, task, events, snapshots, nextOffset);
  if (outcome !== 'committed') {
    if (outcome === 'rolled-back') rollBack(task.store, undo);
    else dropTask(state, task.partition, 'transaction failed');
    await delay(RETRY_BACKOFF_MS);
    return false;
  }

  for (const [name, count] of outcomes) metrics.recordsIn.inc({ outcome: name }, count);
  for (const event of events) metrics.eventsOut.inc({ type: event.type });
  for (const reason of ['deadband', 'unchanged', 'stale'] as const) {
    const count = outcomes.get(reason);
    if (count) metrics.suppressedUpdates.inc({ reason }, count);
  }
  metrics.stateStoreDevices.set(countDevices(state.tasks));
  return true;
}

/**
 * 'rolled-back': aborted before the commit was asked for, the producer is reusable and the
 * caller restores the store from its undo log. 'dropped': the outcome is unknown (commit or
 * abort failed) or the producer was fenced; the partition is prepared again from scratch, which
 * settles the open transaction through InitProducerId and reloads the committed state.
 */
async function writeTransaction(
  state: DifferState,
  task: PartitionTask,
  events: EventRecord[],
  snapshots: Map<string, DeviceSnapshot>,
  nextOffset: string,
): Promise<'committed' | 'rolled-back' | 'dropped'> {
  const { topics, serde, logger, metrics } = state;
  const partition = task.partition;
  const eventMessages = await Promise.all(
    events.map(async (event) => ({
      key: event.deviceId,
      value: await serde.encode(topics['events.v1'], 'event', event),
    })),
  );
  const snapshotMessages = await Promise.all(
    [...snapshots.values()].map(async (snapshot) => ({
      key: snapshot.deviceId,
      // Same partition number as the input: the store of partition p is restored from it.
      partition,
      value: await serde.encode(topics['device-snapshots.v1'], 'device-snapshot', snapshot),
    })),
  );

  const startedAt = performance.now();
  let isCommitting = false;
  const transaction = await task.producer.transaction().catch((err: unknown) => err as Error);
  if (transaction instanceof Error) {
    metrics.transactionAborts.inc({ reason: reasonOf(transaction) });
    logger.warn({ err: transaction, partition }, 'transaction start failed');
    return 'dropped';
  }

  try {
    const topicMessages = [];
    if (eventMessages.length > 0)
      topicMessages.push({ topic: topics['events.v1'], messages: eventMessages });
    if (snapshotMessages.length > 0) {
      topicMessages.push({ topic: topics['device-snapshots.v1'], messages: snapshotMessages });
    }
    // One produce request per chunk: a whole batch's output in one request can pass the
    // broker's message.max.bytes (seen: MESSAGE_TOO_LARGE at ~1,500 records).
    for (const chunk of chunkTopicMessages(topicMessages, SEND_CHUNK_MESSAGES)) {
      await transaction.sendBatch({ topicMessages: chunk });
    }
    await sendOffsetsRetrying(() =>
      transaction.sendOffsets({
        consumerGroupId: state.groupId,
        topics: [
          { topic: topics['device-state.v1'], partitions: [{ partition, offset: nextOffset }] },
        ],
      }),
    );
    isCommitting = true;
    await transaction.commit();
    metrics.transactionSeconds.observe((performance.now() - startedAt) / 1000);
    return 'committed';
  } catch (err) {
    const reason = reasonOf(err);
    metrics.transactionAborts.inc({ reason });
    const wrapped = createDifferError(DifferErrorCode.transactionFailed, 'transaction failed', {
      cause: err,
      retriable: reason !== 'fenced',
      context: { partition, reason },
    });
    if (isCommitting || reason === 'fenced') {
      logger.warn(
        { err: wrapped, partition, offset: nextOffset },
        'transaction outcome unknown, re-preparing partition',
      );
      await transaction.abort().catch(() => undefined); // may be illegal now; re-preparing settles it
      return 'dropped';
    }
    try {
      await transaction.abort();
    } catch (abortErr) {
      logger.warn({ err: abortErr, partition }, 'transaction abort failed, re-preparing partition');
      return 'dropped';
    }
    logger.warn(
      { err: wrapped, partition, offset: nextOffset },
      'transaction aborted, retrying batch',
    );
    return 'rolled-back';
  }
}

async function decodeSample(state: DifferState, message: KafkaMessage, partition: number) {
  if (!message.value) return null;
  try {
    return toDeviceSample(await state.serde.decode(message.value));
  } catch (err) {
    // Registry down: fail the batch so it is fetched again; anything else is a poison record.
    if ((err as { retriable?: boolean }).retriable) throw err;
    state.logger.warn(
      { err, topic: state.topics['device-state.v1'], partition, offset: message.offset },
      'undecodable record skipped',
    );
    return null;
  }
}

function chunkTopicMessages<M>(
  topicMessages: Array<{ topic: string; messages: M[] }>,
  size: number,
): Array<Array<{ topic: string; messages: M[] }>> {
  const chunks: Array<Array<{ topic: string; messages: M[] }>> = [];
  for (const { topic, messages } of topicMessages) {
    for (let start = 0; start < messages.length; start += size) {
      chunks.push([{ topic, messages: messages.slice(start, start + size) }]);
    }
  }
  return chunks;
}

function rollBack(store: PartitionStore, undo: Map<string, DeviceSnapshot | undefined>): void {
  for (const [deviceId, previous] of undo) {
    if (previous) store.set(deviceId, previous);
    else store.delete(deviceId);
  }
}

/**
 * kafkajs retries CONCURRENT_TRANSACTIONS on produce requests but not on AddOffsetsToTxn
 * (kafkajs issue #430). A batch with nothing to write (every sample stale or inside its
 * deadbands) starts its transaction with AddOffsetsToTxn, which the broker refuses while it is
 * still writing the previous transaction's markers, a few ms; without this, each such batch
 * was aborted and redone. The Java client backs off and retries the same way.
 */
async function sendOffsetsRetrying(send: () => Promise<void>): Promise<void> {
  for (let attempt = 0, delayMs = 10; ; attempt += 1, delayMs = Math.min(delayMs * 2, 500)) {
    try {
      return await send();
    } catch (err) {
      if (attempt >= SEND_OFFSETS_RETRIES || !errorTypes(err).includes('CONCURRENT_TRANSACTIONS')) {
        throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

const SEND_OFFSETS_RETRIES = 10;

/** Bounded label values for the abort counter. */
function reasonOf(err: unknown): 'fenced' | 'coordinator' | 'other' {
  const types = errorTypes(err);
  if (types.some((type) => type === 'INVALID_PRODUCER_EPOCH' || type === 'PRODUCER_FENCED')) {
    return 'fenced';
  }
  const coordinatorTypes = [
    'COORDINATOR_LOAD_IN_PROGRESS',
    'NOT_COORDINATOR',
    'COORDINATOR_NOT_AVAILABLE',
  ];
  if (types.some((type) => coordinatorTypes.includes(type))) return 'coordinator';
  return 'other';
}

/** kafkajs wraps protocol errors (retries exhausted, etc.); collect `type` along the chain. */
function errorTypes(err: unknown): string[] {
  const types: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth += 1) {
    const { type, originalError, cause } = current as {
      type?: unknown;
      originalError?: unknown;
      cause?: unknown;
    };
    if (typeof type === 'string') types.push(type);
    current = originalError ?? cause;
  }
  return types;
}

async function assertCoPartitioned(admin: Admin, topics: Topics): Promise<void> {
  const names = [topics['device-state.v1'], topics['device-snapshots.v1']];
  const metadata = await admin.fetchTopicMetadata({ topics: names });
  const counts = metadata.topics.map((topic) => topic.partitions.length);
  if (counts[0] !== counts[1]) {
    throw createDifferError(
      DifferErrorCode.partitionMismatch,
      'input and changelog partition counts differ',
      {
        context: { topics: names, partitions: counts },
      },
    );
  }
}

function countDevices(tasks: Map<number, { store: PartitionStore }>): number {
  let count = 0;
  for (const task of tasks.values()) count += task.store.size;
  return count;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
