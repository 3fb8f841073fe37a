import { Registry } from 'prom-client';
import type { DeliveryAttemptRecord } from '../../services/dispatcher/delivery-record';
import { startDispatcher, type DispatcherHandle } from '../../services/dispatcher/start-dispatcher';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import {
  createDispatcherTestConfig,
  createEventWriter,
  makeEvent,
  readAll,
  setUpDispatcherKafka,
  startReceiver,
  type EventWriter,
  type TestReceiver,
} from './harness';

/** One retry, this far out: long enough for a stop and a start to fit well within it. */
const RETRY_DELAY_MS = 10_000;

describe('dispatcher restart', () => {
  let testKafka: TestKafka;
  let writer: EventWriter;
  const dispatchers: DispatcherHandle[] = [];
  const receivers: TestReceiver[] = [];

  beforeAll(async () => {
    testKafka = await setUpDispatcherKafka();
    writer = await createEventWriter(testKafka);
  });

  afterAll(async () => {
    await Promise.all(dispatchers.map((dispatcher) => dispatcher.stop()));
    await writer?.close();
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await testKafka?.close();
  });

  /** A replica of the same dispatcher: same topics, same consumer groups. */
  async function startReplica(): Promise<DispatcherHandle> {
    const dispatcher = await startDispatcher({
      config: createDispatcherTestConfig(testKafka, {
        retry: {
          scheduleMs: [RETRY_DELAY_MS],
          jitterRatio: 0,
          throttleMinDelayMs: 100,
          retryAfterMaxMs: 10_000,
        },
      }),
      logger: createMemoryLogger('dispatcher').logger,
      registry: new Registry(),
    });
    dispatchers.push(dispatcher);
    return dispatcher;
  }

  it('does not attempt a scheduled retry before its due time after a stop and a start', async () => {
    const flaky = await startReceiver((_request, index) => ({ status: index === 0 ? 500 : 200 }));
    receivers.push(flaky);
    const first = await startReplica();
    const destination = await first.manager.create({ url: flaky.url });
    await waitFor(() => first.destinations.get(destination.id) !== undefined, {
      what: 'destination loaded',
    });
    const event = makeEvent();
    await writer.send([event]);

    await waitFor(() => flaky.requests.length >= 1, { what: 'first attempt' });
    const failedAt = flaky.requests[0]!.at;
    await first.stop();
    const second = await startReplica();
    await waitFor(() => second.isReady(), { what: 'restarted dispatcher ready' });
    // Otherwise the restart would not have been tested before the due time.
    expect(Date.now()).toBeLessThan(failedAt + RETRY_DELAY_MS);

    await waitFor(() => flaky.requests.length >= 2, {
      what: 'the retry',
      timeoutMs: RETRY_DELAY_MS + 30_000,
    });
    const retriedAt = flaky.requests[1]!.at;
    // The due time is counted from after the receiver's answer, so never before this.
    expect(retriedAt - failedAt).toBeGreaterThanOrEqual(RETRY_DELAY_MS);
    expect(flaky.requests.map((request) => request.headers['webhook-id'])).toEqual([
      event.key,
      event.key,
    ]);

    let attempts: DeliveryAttemptRecord[] = [];
    await waitFor(
      async () => {
        const all = await readAll<DeliveryAttemptRecord>(
          testKafka,
          writer.serde,
          'delivery-attempts.v1',
        );
        attempts = all.filter((record) => record.destinationId === destination.id);
        return attempts.length >= 2;
      },
      { what: 'attempt records', intervalMs: 500 },
    );
    const [failed, delivered] = attempts.sort((a, b) => a.attempt - b.attempt);
    expect([failed!.attempt, failed!.outcome, delivered!.attempt, delivered!.outcome]).toEqual([
      1,
      'retry',
      2,
      'success',
    ]);
    expect(delivered!.at).toBeGreaterThanOrEqual(failed!.nextAttemptAt!);

    // Nothing more: the event's offset was committed on stop, so it is not delivered again.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(flaky.requests).toHaveLength(2);
  });
});
