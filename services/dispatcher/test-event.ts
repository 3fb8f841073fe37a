import { randomBytes } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import type { AvroSerde } from '../common/avro';
import { computeEventKey, toWebhookBody, type EventRecord } from '../common/events';
import type { Topics } from '../common/topics';
import type { DeliveryAttemptRecord } from './delivery-record';
import type { Destination } from './destination';
import { createWebhookClient, type AttemptErrorKind, type WebhookClient } from './webhook-client';

/**
 * The test event's type. Deliberately not one of the catalogue's eight: a receiver must never
 * take a test for a real customer, device or command. Documented in services/dispatcher/README.md.
 */
export const TEST_EVENT_TYPE = 'webhook.test';
export const TEST_EVENT_VERSION = '1.0.0';

/** What one test delivery came to, as the admin API answers it. */
export interface TestEventResult {
  /** The webhook-id (and body `key`) of the test event: unique per test. */
  webhookId: string;
  eventType: string;
  /** The receiver answered 2xx. */
  delivered: boolean;
  statusCode: number | null;
  durationMs: number;
  errorKind: AttemptErrorKind | null;
  /** A short, secret-free explanation of a failure ("HTTP 500", "no answer within the timeout"). */
  detail: string | null;
  /** When the attempt started, ms since the epoch. */
  at: number;
}

export interface TestEventSender {
  send(destination: Destination): Promise<TestEventResult>;
  close(): Promise<void>;
}

/**
 * Sends a `webhook.test` event to one destination, now, once: signed with its active secrets,
 * with its custom headers, timeout and the SSRF guard, by the same webhook client the scheduler
 * uses, and recorded on delivery-attempts.v1 (outcome success, or dead: a test is never
 * retried and never goes to deliveries.dead.v1). It ignores the destination's filters and its
 * enabled flag (testing a fixed endpoint before enabling it is the point), and a 410 does not
 * disable the destination.
 */
export function createTestEventSender(options: {
  kafka: Kafka;
  serde: AvroSerde;
  topics: Topics;
  allowPrivateUrls: boolean;
  now?: () => number;
}): TestEventSender {
  const { kafka, serde, topics } = options;
  const now = options.now ?? Date.now;
  // Tests are rare and one at a time per caller: a small pool is plenty.
  const client: WebhookClient = createWebhookClient({
    allowPrivateUrls: options.allowPrivateUrls,
    connectionsPerOrigin: 4,
    now,
  });
  let producer: Promise<Producer> | undefined;

  async function record(attempt: DeliveryAttemptRecord): Promise<void> {
    producer ??= connect(kafka).catch((err: unknown) => {
      producer = undefined;
      throw err;
    });
    const topic = topics['delivery-attempts.v1'];
    const value = await serde.encode(topic, 'delivery-attempt', attempt);
    await (
      await producer
    ).send({
      topic,
      acks: -1,
      messages: [{ key: attempt.destinationId, value }],
    });
  }

  return {
    async send(destination) {
      const event = createTestEvent(destination, now());
      const result = await client.send(destination, event.key, toWebhookBody(event));
      const at = now() - result.durationMs;
      await record({
        destinationId: destination.id,
        webhookId: event.key,
        eventType: event.type,
        attempt: 1,
        at,
        durationMs: result.durationMs,
        outcome: result.ok ? 'success' : 'dead',
        statusCode: result.statusCode,
        errorKind: result.errorKind,
        nextAttemptAt: null,
      });
      return {
        webhookId: event.key,
        eventType: event.type,
        delivered: result.ok,
        statusCode: result.statusCode,
        durationMs: result.durationMs,
        errorKind: result.errorKind,
        detail: result.detail,
        at,
      };
    },
    async close() {
      await client.close();
      const connected = await producer?.catch(() => undefined);
      await connected?.disconnect();
      producer = undefined;
    },
  };
}

/**
 * The envelope of a test event: {type, version, key, timestamp, data} like every webhook, with
 * data naming the destination and a random id, so each test has a webhook-id of its own (a
 * receiver deduplicating on it would otherwise drop a second test).
 */
export function createTestEvent(destination: Destination, at: number): EventRecord {
  const data = {
    id: `tst_${randomBytes(12).toString('hex')}`,
    destinationId: destination.id,
    workspaceId: destination.workspaceId,
    message: 'A test event sent on request; it describes nothing and needs no action.',
    sentAt: new Date(at).toISOString(),
  };
  return {
    type: TEST_EVENT_TYPE,
    version: TEST_EVENT_VERSION,
    key: computeEventKey(TEST_EVENT_TYPE, data),
    timestamp: at,
    workspaceId: destination.workspaceId,
    deviceId: null,
    deviceType: null,
    data: JSON.stringify(data),
  };
}

async function connect(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}
