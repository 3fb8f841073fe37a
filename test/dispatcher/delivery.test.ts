import { Webhook } from 'standardwebhooks';
import { toWebhookBody } from '../../services/common/events';
import { isGridpulseError } from '../../services/common/errors';
import type {
  DeliveryAttemptRecord,
  DeliveryRecord,
} from '../../services/dispatcher/delivery-record';
import type { Destination } from '../../services/dispatcher/destination';
import { startDispatcher, type DispatcherHandle } from '../../services/dispatcher/start-dispatcher';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import {
  createDispatcherTestConfig,
  createEventWriter,
  makeEvent,
  readAll,
  startReceiver,
  type EventWriter,
  type ReceivedRequest,
  type TestReceiver,
  setUpDispatcherKafka,
} from './harness';
import { Registry } from 'prom-client';

describe('dispatcher delivery', () => {
  let testKafka: TestKafka;
  let writer: EventWriter;
  let dispatcher: DispatcherHandle;
  const receivers: TestReceiver[] = [];
  const memory = createMemoryLogger('dispatcher');

  beforeAll(async () => {
    testKafka = await setUpDispatcherKafka();
    writer = await createEventWriter(testKafka);
    dispatcher = await startDispatcher({
      config: createDispatcherTestConfig(testKafka),
      logger: memory.logger,
      registry: new Registry(),
    });
  });

  afterAll(async () => {
    await dispatcher?.stop();
    await writer?.close();
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await testKafka?.close();
  });

  async function receiver(...args: Parameters<typeof startReceiver>) {
    const started = await startReceiver(...args);
    receivers.push(started);
    return started;
  }

  async function createDestination(input: Parameters<DispatcherHandle['manager']['create']>[0]) {
    const destination = await dispatcher.manager.create(input);
    await waitFor(() => dispatcher.destinations.get(destination.id) !== undefined, {
      what: 'destination loaded',
    });
    return destination;
  }

  function verify(destination: Destination, request: ReceivedRequest, secretIndex = 0) {
    const webhook = new Webhook(destination.secrets[secretIndex]!.secret);
    return webhook.verify(request.body, request.headers as Record<string, string>);
  }

  it('delivers signed webhooks that the standardwebhooks package verifies, with custom headers', async () => {
    const target = await receiver();
    const destination = await createDestination({
      url: target.url,
      headers: { authorization: 'Bearer abc', 'x-tenant': 't1' },
    });
    const events = [makeEvent(), makeEvent({ type: 'customer.created', deviceType: null })];
    await writer.send(events);

    await waitFor(() => target.requests.length >= 2, { what: 'two deliveries' });
    for (const request of target.requests) {
      const event = events.find((candidate) => candidate.key === request.headers['webhook-id']);
      expect(event).toBeDefined();
      expect(request.body).toBe(toWebhookBody(event!));
      expect(verify(destination, request)).toEqual(JSON.parse(request.body));
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.authorization).toBe('Bearer abc');
      expect(request.headers['x-tenant']).toBe('t1');
      expect(
        Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000),
      ).toBeLessThan(30);
    }
  });

  it('refuses custom headers that would override webhook-* headers', async () => {
    const attempt = createDestination({
      url: 'http://127.0.0.1:1/x',
      headers: { 'Webhook-Signature': 'v1,x' },
    });
    await expect(attempt).rejects.toMatchObject({ code: 'GP_DISPATCH_DESTINATION_INVALID' });
  });

  it('filters by event type and device type, and a disabled destination receives nothing', async () => {
    const batteries = await receiver();
    const updatesOnly = await receiver();
    const disabled = await receiver();
    await createDestination({ url: batteries.url, deviceTypes: ['battery'] });
    await createDestination({ url: updatesOnly.url, eventTypes: ['device.updated'] });
    const off = await createDestination({ url: disabled.url });
    await dispatcher.manager.disable(off.id, 'test');
    await waitFor(() => dispatcher.destinations.get(off.id)?.enabled === false, {
      what: 'disabled',
    });

    const battery = makeEvent({ deviceType: 'battery' });
    const inverter = makeEvent({ deviceType: 'inverter' });
    const discovered = makeEvent({ type: 'device.discovered', deviceType: 'battery' });
    await writer.send([battery, inverter, discovered]);

    const idsOf = (target: TestReceiver) =>
      target.requests.map((r) => r.headers['webhook-id']).sort();
    await waitFor(() => batteries.requests.length >= 2 && updatesOnly.requests.length >= 2, {
      what: 'filtered deliveries',
    });
    // A marker event after the others: once it arrives, the earlier ones have been decided.
    const marker = makeEvent({ deviceType: 'battery' });
    await writer.send([marker]);
    await waitFor(() => idsOf(updatesOnly).includes(marker.key), { what: 'marker' });

    expect(idsOf(batteries)).toEqual([battery.key, discovered.key, marker.key].sort());
    expect(idsOf(updatesOnly)).toEqual([battery.key, inverter.key, marker.key].sort());
    expect(disabled.requests).toHaveLength(0);
  });

  it('retries a 500 three times and delivers on the fourth attempt with the same webhook-id', async () => {
    const flaky = await receiver((_request, index) => ({ status: index < 3 ? 500 : 200 }));
    const destination = await createDestination({ url: flaky.url });
    const event = makeEvent();
    await writer.send([event]);

    await waitFor(() => flaky.requests.length >= 4, { what: 'four attempts' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(flaky.requests).toHaveLength(4);
    expect(new Set(flaky.requests.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([event.key]),
    );
    for (const request of flaky.requests) verify(destination, request);

    const attempts = await readAll<DeliveryAttemptRecord>(
      testKafka,
      writer.serde,
      'delivery-attempts.v1',
    );
    const mine = attempts
      .filter((a) => a.destinationId === destination.id)
      .sort((a, b) => a.attempt - b.attempt);
    expect(mine.map((a) => [a.attempt, a.outcome, a.statusCode])).toEqual([
      [1, 'retry', 500],
      [2, 'retry', 500],
      [3, 'retry', 500],
      [4, 'success', 200],
    ]);
    expect(JSON.stringify(mine)).not.toContain('whsec_');
  });

  it('does not call a 429 receiver again before its Retry-After', async () => {
    const throttled = await receiver((_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 },
    );
    await createDestination({ url: throttled.url });
    await writer.send([makeEvent()]);

    await waitFor(() => throttled.requests.length >= 2, { what: 'the retry' });
    const [first, second] = throttled.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_000);
  });

  it('sends a delivery that never succeeds to deliveries.dead.v1 with its full history', async () => {
    const broken = await receiver(() => ({ status: 503 }));
    const destination = await createDestination({ url: broken.url });
    const event = makeEvent();
    await writer.send([event]);

    let dead: DeliveryRecord | undefined;
    await waitFor(
      async () => {
        const records = await readAll<DeliveryRecord>(
          testKafka,
          writer.serde,
          'deliveries.dead.v1',
        );
        dead = records.find((record) => record.destinationId === destination.id);
        return dead !== undefined;
      },
      { what: 'dead letter', intervalMs: 500 },
    );
    expect(broken.requests).toHaveLength(4);
    expect(dead!.reason).toBe('exhausted');
    expect(dead!.event.key).toBe(event.key);
    expect(dead!.history.map((h) => [h.attempt, h.statusCode])).toEqual([
      [1, 503],
      [2, 503],
      [3, 503],
      [4, 503],
    ]);
  });

  it('disables a destination that answers 410 Gone', async () => {
    const gone = await receiver(() => ({ status: 410 }));
    const destination = await createDestination({ url: gone.url });
    await writer.send([makeEvent()]);

    await waitFor(() => dispatcher.destinations.get(destination.id)?.enabled === false, {
      what: 'destination disabled',
    });
    expect(dispatcher.destinations.get(destination.id)?.disabledReason).toMatch(/410/);
    expect(gone.requests).toHaveLength(1);
  });

  it('signs with the new and the old secret during a rotation', async () => {
    const target = await receiver();
    const created = await createDestination({ url: target.url });
    const rotated = await dispatcher.manager.rotateSecret(created.id);
    await waitFor(() => dispatcher.destinations.get(created.id)?.secrets.length === 2, {
      what: 'rotation',
    });
    await writer.send([makeEvent()]);

    await waitFor(() => target.requests.length >= 1, { what: 'delivery' });
    const request = target.requests[0]!;
    expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(() => verify(rotated, request, 0)).not.toThrow();
    expect(() => verify(rotated, request, 1)).not.toThrow();
    expect(rotated.secrets[1]!.secret).toBe(created.secrets[0]!.secret);
  });

  it('never logs signing secrets', () => {
    const text = JSON.stringify(memory.lines());
    expect(text).not.toContain('whsec_');
    expect(isGridpulseError(new Error('x'))).toBe(false);
  });
});
