import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { Consumer, EachMessagePayload } from 'kafkajs';
import { createAvroSerde, readSchemaFile } from '../../services/common/avro';
import { isGridpulseError } from '../../services/common/errors';
import { makeBatteryState, makeDeviceState } from '../support/device-state';
import { setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';

// Some unions null (createdAt, referenceId, whConsumed, gridEnergy), some set (address, state).
const sample = makeDeviceState(1_700_000_000_000, {
  state: makeBatteryState(1_699_999_990_000, { whConsumed: null, gridEnergy: null }),
});

describe('Avro through the registry on Kafka', () => {
  let stack: TestKafka;
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    stack = await setUpTestKafka({ only: ['device-state.v1'], partitions: 3 });
  });

  afterAll(async () => {
    await Promise.all(consumers.map((consumer) => consumer.disconnect()));
    await stack.close();
  });

  function consumer(groupId: string): Consumer {
    const created = stack.kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 500,
    });
    consumers.push(created);
    return created;
  }

  it('writes the Confluent wire format and a consumer group reads the record back', async () => {
    const serde = createAvroSerde(stack.config);
    const topic = stack.topics['device-state.v1'];
    const value = await serde.encode(topic, 'device-state', sample);

    expect(value[0]).toBe(0); // magic byte
    const schemaId = value.readInt32BE(1);
    const registry = new SchemaRegistry({ host: stack.config.registry.url });
    const registered = await registry.getLatestSchemaId(`${topic}-value`);
    expect(schemaId).toBe(registered);

    const producer = stack.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: sample.deviceId, value }] });
    await producer.disconnect();

    const received: unknown[] = [];
    const reader = consumer(`${stack.config.topicPrefix}.roundtrip`);
    await reader.connect();
    await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }: EachMessagePayload) => {
        received.push(await serde.decode(message.value!));
      },
    });
    await waitFor(() => received.length === 1, { what: 'the record' });

    expect(received[0]).toEqual(sample);
  });

  it('refuses a schema change that breaks BACKWARD compatibility', async () => {
    const serde = createAvroSerde(stack.config);
    const topic = `${stack.topics['device-state.v1']}.compat`;
    await serde.register(topic, 'device-state');

    const current = JSON.parse(readSchemaFile('device-state')) as { fields: unknown[] };
    const registry = new SchemaRegistry({ host: stack.config.registry.url });
    const withDefault = {
      ...current,
      fields: [...current.fields, { name: 'firmware', type: ['null', 'string'], default: null }],
    };
    const withoutDefault = {
      ...current,
      fields: [...current.fields, { name: 'serial', type: 'string' }],
    };

    await expect(
      registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(withDefault) },
        { subject: `${topic}-value` },
      ),
    ).resolves.toHaveProperty('id');
    await expect(
      registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(withoutDefault) },
        { subject: `${topic}-value` },
      ),
    ).rejects.toMatchObject({ status: 409 });
  });

  it('registers a new subject from many replicas starting at once, refusing none', async () => {
    // Each round a fresh subject, registered by 6 serdes (as 6 starting replicas) in parallel.
    for (let round = 0; round < 10; round += 1) {
      const topic = `${stack.config.topicPrefix}race${round}`;
      const serdes = Array.from({ length: 6 }, () => createAvroSerde(stack.config));
      const ids = await Promise.all(serdes.map((serde) => serde.register(topic, 'device-state')));

      expect(new Set(ids).size).toBe(1);
    }
  });

  it('gives BACKWARD to a subject left without a rule by a process killed mid-registration', async () => {
    // The client's first registration is two requests: the schema, then the subject's rule.
    // Here only the first was made, as by a process killed between them.
    const subject = `${stack.config.topicPrefix}half-value`;
    const registryUrl = stack.config.registry.url;
    const raw = new SchemaRegistry({ host: registryUrl });
    const noRule = { subject, compatibility: undefined } as unknown;
    await raw.register(
      { type: SchemaType.AVRO, schema: readSchemaFile('device-state') },
      noRule as Parameters<typeof raw.register>[1],
    );
    const before = await fetch(`${registryUrl}/config/${subject}`).then((r) => r.json());
    expect(before).toMatchObject({ compatibilityLevel: 'NONE' });

    const id = await createAvroSerde(stack.config).register(
      `${stack.config.topicPrefix}half`,
      'device-state',
    );

    expect(id).toBeGreaterThan(0);
    const after = await fetch(`${registryUrl}/config/${subject}`).then((r) => r.json());
    expect(after).toMatchObject({ compatibilityLevel: 'BACKWARD' });
  });

  it('throws GP_RECORD_UNDECODABLE for bytes that are not the wire format', async () => {
    const serde = createAvroSerde(stack.config);
    const error = await serde.decode(Buffer.from('{"not":"avro"}')).catch((err: unknown) => err);
    expect(isGridpulseError(error, 'GP_RECORD_UNDECODABLE')).toBe(true);
  });

  it('resumes a restarted consumer from its committed offset with no gap and no repeat', async () => {
    const topic = stack.topics['device-state.v1'];
    const producer = stack.kafka.producer({ idempotent: true });
    await producer.connect();
    const send = (from: number, to: number) =>
      producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: to - from }, (_, i) => ({
          key: 'k',
          value: String(from + i),
        })),
      });

    const groupId = `${stack.config.topicPrefix}.resume`;
    const seen: number[] = [];
    const first = consumer(groupId);
    await first.connect();
    await first.subscribe({ topic, fromBeginning: true });
    await send(0, 50);
    await first.run({
      eachMessage: async ({ message }) => {
        const n = Number(message.value?.toString());
        if (!Number.isNaN(n)) seen.push(n);
      },
    });
    await waitFor(() => seen.length >= 50, { what: 'the first 50 records' });
    await first.disconnect(); // commits what it processed

    await send(50, 100);
    const second = consumer(groupId);
    await second.connect();
    await second.subscribe({ topic, fromBeginning: true });
    await second.run({
      eachMessage: async ({ message }) => {
        const n = Number(message.value?.toString());
        if (!Number.isNaN(n)) seen.push(n);
      },
    });
    await waitFor(() => seen.length >= 100, { what: 'the next 50 records' });
    await producer.disconnect();

    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
