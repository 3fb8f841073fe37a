import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createAvroSerde } from '../../services/common/avro';
import { toWebhookBody, type EventRecord } from '../../services/common/events';
import { resolveTopics } from '../../services/common/topics';
import { defaultRuleConfig } from '../../services/differ/config';
import { applySample } from '../../services/differ/rules';
import { createTestConfig } from '../support/kafka';
import { T0, makeOffline, makeSample } from './samples';

/** Members the seed's field tables list but its examples leave out; always present here. */
const TABLE_ONLY = new Set(['data.customer.referenceId', 'data.site.address.streetAddress2']);
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('device event bodies', () => {
  const config = createTestConfig('differ');
  const serde = createAvroSerde(config);
  const topic = resolveTopics(config.topicPrefix)['events.v1'];

  /** The three events, as a receiver gets them after a trip through Avro and the registry. */
  async function buildBodies(): Promise<Record<string, Record<string, unknown>>> {
    const rules = defaultRuleConfig();
    const first = applySample(undefined, makeSample(T0), rules);
    const removed = applySample(first.next!, makeOffline(T0 + 60_000, 'REMOVED'), rules);
    const bodies: Record<string, Record<string, unknown>> = {};
    for (const event of [...first.events, ...removed.events]) {
      const decoded = await serde.decode<EventRecord>(await serde.encode(topic, 'event', event));
      bodies[event.type] = JSON.parse(toWebhookBody(decoded)) as Record<string, unknown>;
    }
    return bodies;
  }

  test.each(['device.discovered', 'device.updated', 'device.disconnected'])(
    '%s has the seed example’s members, in its order, with its value types',
    async (type) => {
      const seed = JSON.parse(
        readFileSync(path.join(__dirname, '../fixtures/seed-events', `${type}.json`), 'utf8'),
      ) as Record<string, unknown>;
      const body = (await buildBodies())[type]!;

      const extras = extraMembersOf(body, seed);
      const shape = describeShape(body).filter((line) => !extras.includes(line));
      expect(shape).toEqual(describeShape(seed));
      expect(extras.map((line) => line.split(':')[0])).toEqual([...TABLE_ONLY]);
      expect(body.version).toBe('1.0.0');
      expect(body.type).toBe(type);
    },
  );

  test('times are ISO-8601 UTC with milliseconds, and match the poll and state times', async () => {
    const bodies = await buildBodies();
    const updated = bodies['device.updated'] as { timestamp: string; data: Record<string, any> };
    expect(updated.timestamp).toBe('2024-08-22T15:54:52.013Z');
    expect(updated.data.updatedAt).toBe('2024-08-22T15:54:52.013Z');
    expect(updated.data.createdAt).toBe('2024-08-22T15:54:52.013Z');
    expect(updated.data.state.createdAt).toBe('2024-08-22T15:54:51.013Z');
    expect(updated.data.state.id).toMatch(/^[0-9a-f]{25}$/);
    expect(updated.data.customer.referenceId).toBeNull();
    for (const value of [updated.timestamp, updated.data.updatedAt, updated.data.state.createdAt]) {
      expect(value).toMatch(ISO_MS);
    }
    const disconnected = bodies['device.disconnected'] as {
      timestamp: string;
      data: { updatedAt: string };
    };
    expect(disconnected.data.updatedAt).toBe('2024-08-22T15:55:52.013Z');
  });
});

/** Every member path in document order with its JSON type (arrays by their items' type). */
function describeShape(value: unknown, at = ''): string[] {
  if (Array.isArray(value)) return [`${at}: array<${value.length ? typeOf(value[0]) : 'empty'}>`];
  if (value === null || typeof value !== 'object') return [`${at}: ${typeOf(value)}`];
  return Object.entries(value).flatMap(([key, member]) => {
    const memberPath = at ? `${at}.${key}` : key;
    const own = `${memberPath}: ${typeOf(member)}`;
    return member !== null && typeof member === 'object' && !Array.isArray(member)
      ? [own, ...describeShape(member, memberPath)]
      : describeShape(member, memberPath);
  });
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** The body's members the seed example lacks, which must all be ones its field table lists. */
function extraMembersOf(body: unknown, seed: unknown): string[] {
  const seedPaths = new Set(describeShape(seed).map((line) => line.split(':')[0]));
  const extras = describeShape(body).filter((line) => !seedPaths.has(line.split(':')[0]!));
  for (const line of extras) expect(TABLE_ONLY).toContain(line.split(':')[0]);
  return extras;
}
