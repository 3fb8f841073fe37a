import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Producer } from 'kafkajs';
import { createAvroSerde, type AvroSerde } from '../../services/common/avro';
import { createEventRecord, type EventRecord, type EventType } from '../../services/common/events';
import type { Topics } from '../../services/common/topics';
import type { DispatcherConfig } from '../../services/dispatcher/config';
import { TOPIC_SPECS, type TopicName } from '../../services/common/topics';
import { setUpTestKafka, type TestKafka } from '../support/kafka';

/** A request a test receiver got, with the time it arrived. */
export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/**
 * A real HTTP server on 127.0.0.1:0. `respond` decides each answer from the requests so far
 * (default 200); returning 'hang' never answers.
 */
export interface TestReceiver {
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

export type Responder = (
  request: ReceivedRequest,
  index: number,
) => { status: number; headers?: Record<string, string> } | 'hang';

export async function startReceiver(
  respond: Responder = () => ({ status: 200 }),
): Promise<TestReceiver> {
  const requests: ReceivedRequest[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(request);
      const answer = respond(request, requests.length - 1);
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(answer.status, answer.headers).end('ok');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A dispatcher config for tests: fast retries, private URLs allowed, the test's topics. */
export function createDispatcherTestConfig(
  testKafka: TestKafka,
  overrides: Partial<DispatcherConfig> = {},
): DispatcherConfig {
  return {
    connectivity: testKafka.config,
    metricsPort: 0,
    allowPrivateUrls: true,
    retry: {
      scheduleMs: [200, 200, 200],
      jitterRatio: 0,
      throttleMinDelayMs: 100,
      retryAfterMaxMs: 10_000,
    },
    tierDelaysMs: [0, 1_000, 2_000, 4_000, 8_000, 16_000],
    maxInFlightPerDestination: 8,
    maxQueuedPerDestination: 64,
    maxQueueWaitMs: 2_000,
    maxPendingEvents: 1_000,
    autoDisableAfterMs: 5 * 86_400_000,
    secretOverlapMs: 86_400_000,
    connectionsPerOrigin: 16,
    commitIntervalMs: 200,
    sessionTimeoutMs: 10_000,
    startFrom: 'earliest',
    destinationLabelLimit: 10,
    ...overrides,
  };
}

let sequence = 0;

/** A device.updated (or other) event with unique data, so each has its own key. */
export function makeEvent(
  options: { type?: EventType; deviceType?: string | null; deviceId?: string } = {},
): EventRecord {
  sequence += 1;
  const deviceId = options.deviceId ?? `tesla:dev-${process.pid}-${sequence}`;
  const deviceType = options.deviceType === undefined ? 'battery' : options.deviceType;
  return createEventRecord(
    options.type ?? 'device.updated',
    { deviceId, deviceType, seq: sequence, at: Date.now() },
    { timestamp: Date.now(), workspaceId: 'ws_test', deviceId, deviceType },
  );
}

export interface EventWriter {
  serde: AvroSerde;
  send(events: EventRecord[]): Promise<void>;
  close(): Promise<void>;
}

export async function createEventWriter(testKafka: TestKafka): Promise<EventWriter> {
  const serde = createAvroSerde(testKafka.config);
  const producer: Producer = testKafka.kafka.producer();
  await producer.connect();
  const topic = testKafka.topics['events.v1'];
  return {
    serde,
    async send(events) {
      const messages = await Promise.all(
        events.map(async (event) => ({
          key: event.deviceId ?? event.key,
          value: await serde.encode(topic, 'event', event),
        })),
      );
      await producer.send({ topic, acks: -1, messages });
    },
    close: () => producer.disconnect(),
  };
}

/** Decoded records of `topic`, read from the beginning by a throwaway consumer. */
export async function readAll<T>(
  testKafka: TestKafka,
  serde: AvroSerde,
  topic: keyof Topics,
): Promise<T[]> {
  const { readTopicRange } = await import('../../services/dispatcher/topic-reader');
  const found: T[] = [];
  await readTopicRange(testKafka.kafka, {
    topic: testKafka.topics[topic],
    groupPrefix: `${testKafka.config.topicPrefix}.test`,
    onMessage: async (message) => {
      if (message.value) found.push(await serde.decode<T>(message.value));
    },
  });
  return found;
}

/** The topics the dispatcher reads and writes. */
export const DISPATCHER_TOPICS = TOPIC_SPECS.map((spec) => spec.name).filter(
  (name) => name.startsWith('deliver') || name === 'events.v1' || name === 'destinations.v1',
) as TopicName[];

/**
 * setUpTestKafka for the dispatcher's topics, tried again when the broker answers "does not
 * host this topic-partition" for topics it has only just created.
 */
export async function setUpDispatcherKafka(attempts = 3): Promise<TestKafka> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await setUpTestKafka({ only: DISPATCHER_TOPICS, partitions: 3 });
    } catch (err) {
      const retriable = (err as { retriable?: unknown } | null)?.retriable === true;
      if (!retriable || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
