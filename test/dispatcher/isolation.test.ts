import { Registry } from 'prom-client';
import { startDispatcher, type DispatcherHandle } from '../../services/dispatcher/start-dispatcher';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import {
  createDispatcherTestConfig,
  createEventWriter,
  makeEvent,
  startReceiver,
  type EventWriter,
  type TestReceiver,
  setUpDispatcherKafka,
} from './harness';

const EVENTS_PER_RUN = 120;

describe('dispatcher isolation', () => {
  let testKafka: TestKafka;
  let writer: EventWriter;
  let dispatcher: DispatcherHandle;
  const receivers: TestReceiver[] = [];
  const registry = new Registry();

  beforeAll(async () => {
    testKafka = await setUpDispatcherKafka();
    writer = await createEventWriter(testKafka);
    dispatcher = await startDispatcher({
      config: createDispatcherTestConfig(testKafka, {
        maxInFlightPerDestination: 4,
        maxQueuedPerDestination: 16,
        maxQueueWaitMs: 500,
      }),
      logger: createMemoryLogger('dispatcher').logger,
      registry,
    });
  });

  afterAll(async () => {
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await dispatcher?.stop();
    await writer?.close();
    await testKafka?.close();
  });

  async function addDestination(receiver: TestReceiver, timeoutMs = 10_000) {
    receivers.push(receiver);
    const destination = await dispatcher.manager.create({ url: receiver.url, timeoutMs });
    await waitFor(() => dispatcher.destinations.get(destination.id) !== undefined, {
      what: 'loaded',
    });
    return destination;
  }

  /** Sends events in small paced batches; returns each event's send time by key. */
  async function sendPaced(count: number): Promise<Map<string, number>> {
    const sentAt = new Map<string, number>();
    for (let i = 0; i < count; i += 10) {
      const events = Array.from({ length: 10 }, () => makeEvent());
      const at = Date.now();
      await writer.send(events);
      for (const event of events) sentAt.set(event.key, at);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return sentAt;
  }

  /** gridpulse_dispatcher_attempts_total for one destination, by outcome. */
  async function attemptsOf(destinationId: string): Promise<Record<string, number>> {
    const metric = await registry.getSingleMetric('gridpulse_dispatcher_attempts_total')!.get();
    return Object.fromEntries(
      metric.values
        .filter((value) => value.labels.destination === destinationId)
        .map((value) => [value.labels.outcome, value.value]),
    );
  }

  function latencies(receiver: TestReceiver, sentAt: Map<string, number>): number[] {
    return receiver.requests
      .filter((request) => sentAt.has(String(request.headers['webhook-id'])))
      .map((request) => request.at - sentAt.get(String(request.headers['webhook-id']))!)
      .sort((a, b) => a - b);
  }

  it('keeps a healthy destination at its normal latency while another one hangs', async () => {
    const healthy = await startReceiver();
    const healthyDestination = await addDestination(healthy);

    const baselineSent = await sendPaced(EVENTS_PER_RUN);
    await waitFor(() => latencies(healthy, baselineSent).length >= EVENTS_PER_RUN, {
      what: 'baseline',
    });
    const baseline = latencies(healthy, baselineSent);

    const hanging = await startReceiver(() => 'hang');
    const hangingDestination = await addDestination(hanging, 3_000);
    const runSent = await sendPaced(EVENTS_PER_RUN);
    await waitFor(() => latencies(healthy, runSent).length >= EVENTS_PER_RUN, {
      what: 'run with a hanging destination',
    });
    const withHanging = latencies(healthy, runSent);

    const p95 = (values: number[]) => values[Math.floor(values.length * 0.95)]!;
    // Generous: the hanging destination ties up at most 4 sockets and a 16-slot queue; the
    // healthy one must not wait for its 3 s timeouts.
    expect(p95(withHanging)).toBeLessThan(p95(baseline) * 3 + 500);
    expect(p95(withHanging)).toBeLessThan(3_000);
    expect(hanging.requests.length).toBeGreaterThan(0);

    // The metric names the destination that fails, so its alert can (GridpulseDeliveriesFailing).
    await waitFor(async () => ((await attemptsOf(hangingDestination.id)).timeout ?? 0) > 0, {
      what: 'a timeout counted for the hanging destination',
    });
    expect(Object.keys(await attemptsOf(hangingDestination.id))).toEqual(['timeout']);
    expect(await attemptsOf(healthyDestination.id)).toEqual({ success: 2 * EVENTS_PER_RUN });
  });
});
