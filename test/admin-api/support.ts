import { request } from 'undici';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Consumer } from 'kafkajs';
import { createAvroSerde } from '../../services/common/avro';
import type { EventRecord } from '../../services/common/events';
import type { Logger } from '../../services/common/logger';
import type { TopicName } from '../../services/common/topics';
import { startAdminApi, type AdminApiHandle } from '../../services/admin-api/admin-api';
import { hashApiKey } from '../../services/admin-api/auth';
import type { AdminApiConfig } from '../../services/admin-api/config';
import { setUpTestKafka, type TestKafka } from '../support/kafka';

export const KEY_A = 'test-key-workspace-a-0123456789';
export const KEY_B = 'test-key-workspace-b-9876543210';
export const WS_A = 'ws_a';
export const WS_B = 'ws_b';
export const ENCRYPTION_KEY = Buffer.alloc(32, 7);

/** Every topic the admin API reads or writes: what a test running it provisions. */
export const ADMIN_API_TOPICS: TopicName[] = [
  'customers.v1',
  'sites.v1',
  'enrollments.v1',
  'commands.v1',
  'connections.v1',
  'events.v1',
  'destinations.v1',
  'device-state.v1',
];

export function adminConfig(
  testKafka: TestKafka,
  overrides: Partial<AdminApiConfig> = {},
): AdminApiConfig {
  return {
    connectivity: testKafka.config,
    port: 0,
    host: '127.0.0.1',
    metricsPort: 0,
    apiKeys: [
      { workspaceId: WS_A, sha256: hashApiKey(KEY_A) },
      { workspaceId: WS_B, sha256: hashApiKey(KEY_B) },
    ],
    organizations: new Map([[WS_A, 'org_a']]),
    bodyLimitBytes: 4096,
    deviceLookbackMs: 60 * 60_000,
    secretOverlapMs: 60_000,
    allowPrivateUrls: true,
    credentialsKey: { id: 'k1', key: ENCRYPTION_KEY },
    ...overrides,
  };
}

export function startTestApi(
  testKafka: TestKafka,
  logger: Logger,
  overrides: Partial<AdminApiConfig> = {},
): Promise<AdminApiHandle> {
  return startAdminApi({ config: adminConfig(testKafka, overrides), logger });
}

/** Collects every record of `topic` (decoded) from the beginning, in a group of its own. */
export async function collectTopic<T>(
  testKafka: TestKafka,
  topic: string,
): Promise<{ records: Array<{ key: string; value: T | null }>; stop: () => Promise<void> }> {
  const serde = createAvroSerde(testKafka.config);
  const records: Array<{ key: string; value: T | null }> = [];
  const consumer: Consumer = testKafka.kafka.consumer({
    groupId: `${testKafka.config.topicPrefix}.collect.${Math.random().toString(16).slice(2)}`,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      records.push({
        key: message.key?.toString() ?? '',
        value: message.value ? await serde.decode<T>(message.value) : null,
      });
    },
  });
  return { records, stop: () => consumer.disconnect() };
}

export function readSeed(type: string): Record<string, unknown> {
  return JSON.parse(
    readFileSync(path.join(__dirname, 'fixtures', `${type}.json`), 'utf8'),
  ) as Record<string, unknown>;
}

/** The webhook body of an event: what a receiver gets. */
export function bodyOf(event: EventRecord): Record<string, unknown> {
  return {
    type: event.type,
    version: event.version,
    key: event.key,
    timestamp: new Date(event.timestamp).toISOString(),
    data: JSON.parse(event.data) as unknown,
  };
}

/** Every member path in document order with its JSON type. */
export function describeShape(value: unknown, at = ''): string[] {
  if (Array.isArray(value)) return [`${at}: array`];
  if (value === null || typeof value !== 'object')
    return [`${at}: ${value === null ? 'null' : typeof value}`];
  return Object.entries(value).flatMap(([key, member]) => {
    const memberPath = at ? `${at}.${key}` : key;
    const own = `${memberPath}: ${member === null ? 'null' : Array.isArray(member) ? 'array' : typeof member}`;
    return member !== null && typeof member === 'object' && !Array.isArray(member)
      ? [own, ...describeShape(member, memberPath)]
      : [own];
  });
}

export function auth(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

/**
 * A real HTTP request to the listening API. (fastify's inject pulls in light-my-request, whose
 * `cookie` dependency is ESM-only and does not load under this repo's jest transform.)
 */
export async function http(
  baseUrl: string,
  options: { method: string; url: string; headers?: Record<string, string>; payload?: unknown },
): Promise<HttpResult> {
  const hasBody = options.payload !== undefined;
  const body =
    typeof options.payload === 'string'
      ? options.payload
      : hasBody
        ? JSON.stringify(options.payload)
        : undefined;
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (hasBody && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  const res = await request(`${baseUrl}${options.url}`, {
    method: options.method as 'GET',
    headers,
    body,
  });
  const text = await res.body.text();
  return {
    statusCode: res.statusCode,
    headers: res.headers as HttpResult['headers'],
    body: text,
    json: () => JSON.parse(text),
  };
}

/**
 * setUpTestKafka, tried again when the broker answers a retriable "not the leader / does not
 * host this partition" while creating many topics at once (kafkajs' createTopics with
 * waitForLeaders hands that back when the metadata lags on a loaded 2-core machine).
 */
export async function setUpTestKafkaRetrying(
  options: Parameters<typeof setUpTestKafka>[0],
): Promise<TestKafka> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await setUpTestKafka(options);
    } catch (err) {
      if ((err as { retriable?: unknown }).retriable !== true || attempt >= 3) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
