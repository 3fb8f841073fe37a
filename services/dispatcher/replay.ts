import type { Kafka, Producer } from 'kafkajs';
import type { AvroSerde } from '../common/avro';
import type { EventRecord } from '../common/events';
import type { Topics } from '../common/topics';
import { matchesDestination, type Destination } from './destination';
import { deliveryKey, type DeliveryRecord } from './delivery-record';
import { DispatcherErrorCode, dispatcherError } from './errors';
import { RETRY_TIER_TOPICS } from './retry-tiers';
import { fetchTopicOffsets } from '../common/topic-offsets';
import { readTopicRange } from './topic-reader';

export interface ReplayResult {
  scanned: number;
  enqueued: number;
}

/**
 * Re-sends to `destination` every event on events.v1 since `sinceMs` that matches its filters
 * now. Nothing is sent from here: each match becomes a due delivery on the shortest retry tier,
 * so replays go through the dispatchers with the usual limits, signing and isolation.
 */
export async function replaySince(
  deps: ReplayDeps,
  destination: Destination,
  sinceMs: number,
): Promise<ReplayResult> {
  assertEnabled(destination);
  const topic = deps.topics['events.v1'];
  const admin = deps.kafka.admin();
  await admin.connect();
  let startOffsets: Map<number, string>;
  try {
    const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
    const ends = await fetchTopicOffsets(admin, topic);
    // -1: nothing at or after that time in this partition.
    startOffsets = new Map(
      byTime.map(({ partition, offset }) => [
        partition,
        offset === '-1' ? ends.find((end) => end.partition === partition)!.high : offset,
      ]),
    );
  } finally {
    await admin.disconnect();
  }

  return enqueueFrom(deps, topic, startOffsets, async (value) => {
    const event = await deps.serde.decode<EventRecord>(value);
    if (!matchesDestination(destination, event)) return undefined;
    return newDelivery(destination.id, event, 'replay', [], deps.now());
  });
}

/** Re-sends what deliveries.dead.v1 holds for `destination`, with a fresh attempt budget. */
export async function replayDead(
  deps: ReplayDeps,
  destination: Destination,
): Promise<ReplayResult> {
  assertEnabled(destination);
  return enqueueFrom(deps, deps.topics['deliveries.dead.v1'], undefined, async (value) => {
    const dead = await deps.serde.decode<DeliveryRecord>(value);
    if (dead.destinationId !== destination.id) return undefined;
    return newDelivery(destination.id, dead.event, 'replay-dead', dead.history, deps.now());
  });
}

const REPLAY_BATCH = 500;

export interface ReplayDeps {
  kafka: Kafka;
  serde: AvroSerde;
  topics: Topics;
  groupPrefix: string;
  now: () => number;
}

async function enqueueFrom(
  deps: ReplayDeps,
  topic: string,
  startOffsets: Map<number, string> | undefined,
  toDelivery: (value: Buffer) => Promise<DeliveryRecord | undefined>,
): Promise<ReplayResult> {
  const target = deps.topics[RETRY_TIER_TOPICS[0]];
  const producer: Producer = deps.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let enqueued = 0;
  // One produce request per REPLAY_BATCH deliveries, not per delivery: a replay of a day of
  // events is otherwise a round trip per event.
  let batch: Array<{ key: string; value: Buffer }> = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const messages = batch;
    batch = [];
    await producer.send({ topic: target, acks: -1, messages });
    enqueued += messages.length;
  };
  try {
    const { messages } = await readTopicRange(deps.kafka, {
      topic,
      groupPrefix: deps.groupPrefix,
      startOffsets,
      onMessage: async (message) => {
        if (!message.value) return;
        const delivery = await toDelivery(message.value);
        if (!delivery) return;
        const value = await deps.serde.encode(target, 'delivery', delivery);
        batch.push({ key: deliveryKey(delivery.destinationId, delivery.event.key), value });
        if (batch.length >= REPLAY_BATCH) await flush();
      },
    });
    await flush();
    return { scanned: messages, enqueued };
  } finally {
    await producer.disconnect();
  }
}

function newDelivery(
  destinationId: string,
  event: EventRecord,
  reason: string,
  history: DeliveryRecord['history'],
  at: number,
): DeliveryRecord {
  return {
    destinationId,
    event,
    attempts: 0,
    deferrals: 0,
    dueAt: at,
    enqueuedAt: at,
    reason,
    history,
    deadAt: null,
  };
}

function assertEnabled(destination: Destination): void {
  if (!destination.enabled) {
    throw dispatcherError(
      DispatcherErrorCode.destinationDisabled,
      'destination is disabled; enable it before replaying',
      { context: { destinationId: destination.id } },
    );
  }
}
