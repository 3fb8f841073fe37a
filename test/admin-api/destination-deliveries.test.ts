import type { Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import type { AdminApiHandle } from '../../services/admin-api/admin-api';
import { createAvroSerde, type AvroSerde } from '../../services/common/avro';
import { createEventRecord, toWebhookBody, type EventRecord } from '../../services/common/events';
import type {
  DeliveryAttemptRecord,
  DeliveryRecord,
} from '../../services/dispatcher/delivery-record';
import { startDispatcher, type DispatcherHandle } from '../../services/dispatcher/start-dispatcher';
import {
  createDispatcherTestConfig,
  readAll,
  startReceiver,
  type ReceivedRequest,
  type Responder,
  type TestReceiver,
} from '../dispatcher/harness';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import { auth, http, KEY_A, KEY_B, setUpTestKafkaRetrying, startTestApi, WS_A } from './support';

/**
 * POST /destinations/:id/replay and /test against a real receiver on loopback, with the admin
 * API and a dispatcher replica in this process.
 */
describe('admin API destination replay and test event', () => {
  let testKafka: TestKafka;
  let api: AdminApiHandle;
  let dispatcher: DispatcherHandle;
  let serde: AvroSerde;
  let producer: Producer;
  const receivers: TestReceiver[] = [];
  const memory = createMemoryLogger('admin-api');

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({ partitions: 3 });
    serde = createAvroSerde(testKafka.config);
    producer = testKafka.kafka.producer();
    await producer.connect();
    api = await startTestApi(testKafka, memory.logger);
    dispatcher = await startDispatcher({
      config: createDispatcherTestConfig(testKafka),
      logger: createMemoryLogger('dispatcher').logger,
      registry: new Registry(),
    });
  }, 90_000);

  afterAll(async () => {
    await dispatcher?.stop();
    await api?.stop();
    await producer?.disconnect();
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await testKafka?.close();
  });

  const post = (url: string, payload?: unknown, key = KEY_A) =>
    http(api.url, { method: 'POST', url, payload, headers: auth(key) });

  async function receiver(respond?: Responder) {
    const started = await startReceiver(respond);
    receivers.push(started);
    return started;
  }

  /** A destination made through the API, once the dispatcher knows it. */
  async function createDestination(url: string) {
    const res = await post('/destinations', { url });
    expect(res.statusCode).toBe(201);
    const created = res.json() as { id: string; secret: string };
    await waitFor(() => dispatcher.destinations.get(created.id) !== undefined, {
      what: 'destination loaded by the dispatcher',
    });
    return created;
  }

  let sequence = 0;
  /** An event of workspace A (the API's destinations belong to it), written to events.v1. */
  async function writeEvent(): Promise<EventRecord> {
    sequence += 1;
    const deviceId = `tesla:replay-${process.pid}-${sequence}`;
    const event = createEventRecord(
      'device.updated',
      { deviceId, seq: sequence, at: Date.now() },
      { timestamp: Date.now(), workspaceId: WS_A, deviceId, deviceType: 'battery' },
    );
    const topic = testKafka.topics['events.v1'];
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: deviceId, value: await serde.encode(topic, 'event', event) }],
    });
    return event;
  }

  const idsAt = (target: TestReceiver) =>
    target.requests.map((r) => String(r.headers['webhook-id']));
  const countOf = (target: TestReceiver, id: string) =>
    idsAt(target).filter((candidate) => candidate === id).length;
  const verify = (secret: string, request: ReceivedRequest) =>
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>);

  test('replay {since} re-delivers the events since that time, with the same webhook-id and a valid signature', async () => {
    const target = await receiver();
    const { id, secret } = await createDestination(target.url);
    const before = await writeEvent();
    await waitFor(() => countOf(target, before.key) === 1, { what: 'the earlier event' });

    // Kafka's timestamps are the producer's clock: a gap either side of `since` keeps it clear.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const since = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = [await writeEvent(), await writeEvent()];
    await waitFor(() => after.every((event) => countOf(target, event.key) === 1), {
      what: 'the later events, first time',
    });

    const res = await post(`/destinations/${id}/replay`, { since });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ destinationId: id, from: 'events', since, enqueued: 2 });

    await waitFor(() => after.every((event) => countOf(target, event.key) === 2), {
      what: 'the replayed events',
    });
    for (const event of after) {
      const replayed = target.requests.filter((r) => r.headers['webhook-id'] === event.key)[1]!;
      expect(replayed.body).toBe(toWebhookBody(event));
      expect(verify(secret, replayed)).toEqual(JSON.parse(replayed.body));
    }
    // A marker written after the replay arrives after it (same dispatcher, nothing queued):
    // by then the event before `since` would have been re-sent too, had it been replayed.
    const marker = await writeEvent();
    await waitFor(() => countOf(target, marker.key) === 1, { what: 'the marker' });
    expect(countOf(target, before.key)).toBe(1);
  });

  test('replay {"from": "dead"} re-delivers what went dead once the receiver is fixed', async () => {
    let fixed = false;
    const target = await receiver(() => ({ status: fixed ? 200 : 503 }));
    const { id, secret } = await createDestination(target.url);
    const event = await writeEvent();

    await waitFor(
      async () =>
        (await readAll<DeliveryRecord>(testKafka, serde, 'deliveries.dead.v1')).some(
          (dead) => dead.destinationId === id && dead.event.key === event.key,
        ),
      { what: 'the dead letter', intervalMs: 500 },
    );
    const failedAttempts = target.requests.length;
    fixed = true;

    const res = await post(`/destinations/${id}/replay`, { from: 'dead' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ destinationId: id, from: 'dead', since: null, enqueued: 1 });

    await waitFor(() => target.requests.length > failedAttempts, { what: 'the re-delivery' });
    const redelivered = target.requests[failedAttempts]!;
    expect(redelivered.headers['webhook-id']).toBe(event.key);
    expect(verify(secret, redelivered)).toEqual(JSON.parse(toWebhookBody(event)));
  });

  test('the test event is a signed webhook.test to that destination only, answered with the receiver’s status and duration', async () => {
    const target = await receiver();
    const bystander = await receiver();
    const { id, secret } = await createDestination(target.url);
    await createDestination(bystander.url);

    const res = await post(`/destinations/${id}/test`);
    expect(res.statusCode).toBe(200);
    const result = res.json() as Record<string, unknown>;
    expect(result).toMatchObject({
      destinationId: id,
      eventType: 'webhook.test',
      delivered: true,
      statusCode: 200,
      errorKind: null,
    });
    expect(typeof result.durationMs).toBe('number');

    expect(target.requests).toHaveLength(1);
    const request = target.requests[0]!;
    expect(request.headers['webhook-id']).toBe(result.webhookId);
    const body = verify(secret, request) as {
      type: string;
      key: string;
      data: { destinationId: string };
    };
    expect(body).toMatchObject({ type: 'webhook.test', version: '1.0.0', key: result.webhookId });
    expect(body.data.destinationId).toBe(id);
    expect(bystander.requests).toHaveLength(0);

    // A second test is a new webhook-id: a receiver deduplicating must not drop it.
    const again = (await post(`/destinations/${id}/test`)).json() as { webhookId: string };
    expect(again.webhookId).not.toBe(result.webhookId);

    await waitFor(
      async () =>
        (await readAll<DeliveryAttemptRecord>(testKafka, serde, 'delivery-attempts.v1')).some(
          (attempt) =>
            attempt.webhookId === result.webhookId &&
            attempt.eventType === 'webhook.test' &&
            attempt.outcome === 'success' &&
            attempt.statusCode === 200,
        ),
      { what: 'the recorded test attempt', intervalMs: 500 },
    );
  });

  test('a failing receiver is reported, not retried; another workspace gets 404', async () => {
    const broken = await receiver(() => ({ status: 500 }));
    const { id } = await createDestination(broken.url);

    const res = await post(`/destinations/${id}/test`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      delivered: false,
      statusCode: 500,
      errorKind: 'status',
      detail: 'HTTP 500',
    });
    expect(broken.requests).toHaveLength(1);

    expect((await post(`/destinations/${id}/test`, undefined, KEY_B)).statusCode).toBe(404);
    expect((await post(`/destinations/${id}/replay`, { from: 'dead' }, KEY_B)).statusCode).toBe(
      404,
    );
  });

  test('replay takes exactly one of since and from, and refuses a disabled destination', async () => {
    const { id } = await createDestination('http://127.0.0.1:9/unused');
    const neither = await post(`/destinations/${id}/replay`, {});
    expect(neither.statusCode).toBe(400);
    expect(neither.json().error).toMatchObject({
      code: 'GP_ADMIN_INVALID_REQUEST',
      field: 'body.since',
    });
    const both = await post(`/destinations/${id}/replay`, {
      since: new Date().toISOString(),
      from: 'dead',
    });
    expect(both.statusCode).toBe(400);
    const badDate = await post(`/destinations/${id}/replay`, { since: 'yesterday' });
    expect(badDate.statusCode).toBe(400);
    expect(badDate.json().error.field).toBe('body.since');
    expect((await post(`/destinations/${id}/replay`, { from: 'alive' })).statusCode).toBe(400);

    expect((await post(`/destinations/${id}/disable`, {})).statusCode).toBe(200);
    await waitFor(
      async () =>
        (
          await http(api.url, { method: 'GET', url: `/destinations/${id}`, headers: auth(KEY_A) })
        ).json().enabled === false,
      { what: 'the API to see the destination disabled' },
    );
    const disabled = await post(`/destinations/${id}/replay`, { from: 'dead' });
    expect(disabled.statusCode).toBe(409);
    expect(disabled.json().error.code).toBe('GP_DISPATCH_DESTINATION_DISABLED');
  });
});
