import { Registry } from 'prom-client';
import type {
  DeliveryAttemptRecord,
  DeliveryRecord,
} from '../../services/dispatcher/delivery-record';
import type { Destination } from '../../services/dispatcher/destination';
import type { DispatcherConfig } from '../../services/dispatcher/config';
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
  type Responder,
  type TestReceiver,
} from './harness';

/**
 * One Kafka prefix, one dispatcher and its receivers per describe block, so that each block
 * can run the dispatcher with its own settings. Each test gives its destination a device-type
 * filter of its own, so that it only sees the events the test sends.
 */
function useDispatcher(overrides: Partial<DispatcherConfig> = {}) {
  const context = {} as {
    testKafka: TestKafka;
    writer: EventWriter;
    dispatcher: DispatcherHandle;
  };
  const receivers: TestReceiver[] = [];

  beforeAll(async () => {
    context.testKafka = await setUpDispatcherKafka();
    context.writer = await createEventWriter(context.testKafka);
    context.dispatcher = await startDispatcher({
      config: createDispatcherTestConfig(context.testKafka, overrides),
      logger: createMemoryLogger('dispatcher').logger,
      registry: new Registry(),
    });
  });

  afterAll(async () => {
    await context.dispatcher?.stop();
    await context.writer?.close();
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await context.testKafka?.close();
  });

  return {
    get testKafka() {
      return context.testKafka;
    },
    get writer() {
      return context.writer;
    },
    get dispatcher() {
      return context.dispatcher;
    },

    async receiver(respond?: Responder) {
      const started = await startReceiver(respond);
      receivers.push(started);
      return started;
    },

    async createDestination(input: Parameters<DispatcherHandle['manager']['create']>[0]) {
      const destination = await context.dispatcher.manager.create(input);
      await waitFor(() => context.dispatcher.destinations.get(destination.id) !== undefined, {
        what: 'destination loaded',
      });
      return destination;
    },

    async attemptsOf(destinationId: string) {
      const all = await readAll<DeliveryAttemptRecord>(
        context.testKafka,
        context.writer.serde,
        'delivery-attempts.v1',
      );
      return all.filter((record) => record.destinationId === destinationId);
    },

    async deadOf(destinationId: string) {
      const all = await readAll<DeliveryRecord>(
        context.testKafka,
        context.writer.serde,
        'deliveries.dead.v1',
      );
      return all.filter((record) => record.destinationId === destinationId);
    },

    /** The latest value of the destination's record on destinations.v1. */
    async storedDestination(destinationId: string) {
      const all = await readAll<Destination>(
        context.testKafka,
        context.writer.serde,
        'destinations.v1',
      );
      return all.filter((record) => record.id === destinationId).at(-1);
    },
  };
}

/** A counter's value for `labels` on the dispatcher's registry (0 when never incremented). */
async function counterValue(
  dispatcher: DispatcherHandle,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = await dispatcher.registry.getSingleMetric(name)?.get();
  const entry = metric?.values.find((value) =>
    Object.entries(labels).every(([label, expected]) => value.labels[label] === expected),
  );
  return entry?.value ?? 0;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('webhook client redirects', () => {
  const env = useDispatcher();

  it.each([302, 307])(
    'treats a %i as a failed attempt and never calls the Location it points to',
    async (status) => {
      const elsewhere = await env.receiver();
      const redirecting = await env.receiver(() => ({
        status,
        headers: { location: elsewhere.url },
      }));
      const deviceType = `redirect-${status}`;
      const destination = await env.createDestination({
        url: redirecting.url,
        deviceTypes: [deviceType],
      });
      const event = makeEvent({ deviceType });
      await env.writer.send([event]);

      let dead: DeliveryRecord[] = [];
      await waitFor(
        async () => {
          dead = await env.deadOf(destination.id);
          return dead.length > 0;
        },
        { what: 'dead letter', intervalMs: 500 },
      );
      // The test schedule has three retries: four attempts, each answered by the redirect.
      expect(redirecting.requests).toHaveLength(4);
      expect(elsewhere.requests).toHaveLength(0);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.reason).toBe('exhausted');
      expect(dead[0]!.event.key).toBe(event.key);

      const attempts = (await env.attemptsOf(destination.id)).sort((a, b) => a.attempt - b.attempt);
      expect(attempts.map((a) => [a.attempt, a.outcome, a.statusCode, a.errorKind])).toEqual([
        [1, 'retry', status, 'redirect'],
        [2, 'retry', status, 'redirect'],
        [3, 'retry', status, 'redirect'],
        [4, 'dead', status, 'redirect'],
      ]);
    },
  );
});

describe('delivery scheduler rate limit', () => {
  const env = useDispatcher();
  const RATE_PER_SECOND = 5;
  // delivery-scheduler.ts: a token bucket holding at most one second of tokens.
  const BURST = RATE_PER_SECOND;
  const EVENTS = 20;

  it('spaces deliveries to the configured rate and delivers each on its first attempt', async () => {
    const limited = await env.receiver();
    const destination = await env.createDestination({
      url: limited.url,
      deviceTypes: ['rate-limited'],
      rateLimitPerSecond: RATE_PER_SECOND,
    });
    const events = Array.from({ length: EVENTS }, () => makeEvent({ deviceType: 'rate-limited' }));
    await env.writer.send(events);

    await waitFor(() => limited.requests.length >= EVENTS, {
      what: `${EVENTS} deliveries`,
      timeoutMs: 45_000,
    });
    const arrivals = limited.requests.map((request) => request.at).sort((a, b) => a - b);
    // The bucket starts with one token: 19 more at 5/s take 3.8 s; 3 s leaves room for jitter.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(3_000);
    // However the arrivals are windowed, none holds more than the burst plus the rate over
    // the window's length (plus one, for the request's time on the wire).
    const crowded: Array<{ windowMs: number; count: number }> = [];
    for (let first = 0; first < arrivals.length; first += 1) {
      for (let last = first; last < arrivals.length; last += 1) {
        const windowMs = arrivals[last]! - arrivals[first]!;
        const count = last - first + 1;
        if (count > BURST + (RATE_PER_SECOND * windowMs) / 1000 + 1) {
          crowded.push({ windowMs, count });
        }
      }
    }
    expect(crowded).toEqual([]);

    await sleep(500);
    const ids = limited.requests.map((request) => request.headers['webhook-id']);
    expect(ids.sort()).toEqual(events.map((event) => event.key).sort());

    let attempts: DeliveryAttemptRecord[] = [];
    await waitFor(
      async () => {
        attempts = await env.attemptsOf(destination.id);
        return attempts.length >= EVENTS;
      },
      { what: 'attempt records', intervalMs: 500 },
    );
    // Waiting for a token (in the queue or deferred through a retry tier) uses no attempt.
    expect(attempts).toHaveLength(EVENTS);
    for (const attempt of attempts) {
      expect([attempt.attempt, attempt.outcome]).toEqual([1, 'success']);
    }
  });
});

describe('delivery scheduler auto-disable', () => {
  const AUTO_DISABLE_AFTER_MS = 3_000;
  // Four retries a second apart: a delivery runs out over 4 s, longer than the 3 s period.
  const env = useDispatcher({
    autoDisableAfterMs: AUTO_DISABLE_AFTER_MS,
    retry: {
      scheduleMs: [1_000, 1_000, 1_000, 1_000],
      jitterRatio: 0,
      throttleMinDelayMs: 100,
      retryAfterMaxMs: 10_000,
    },
  });
  const disabledForFailing = () =>
    counterValue(env.dispatcher, 'gridpulse_dispatcher_destinations_disabled_total', {
      reason: 'failing',
    });

  it('disables a destination whose delivery runs out of retries with no 2xx for the period', async () => {
    const failing = await env.receiver(() => ({ status: 503 }));
    const destination = await env.createDestination({
      url: failing.url,
      deviceTypes: ['never-ok'],
    });
    const before = await disabledForFailing();
    await env.writer.send([makeEvent({ deviceType: 'never-ok' })]);

    await waitFor(() => env.dispatcher.destinations.get(destination.id)?.enabled === false, {
      what: 'destination disabled',
    });
    expect(failing.requests).toHaveLength(5);
    expect(await disabledForFailing()).toBe(before + 1);

    const stored = await env.storedDestination(destination.id);
    expect(stored).toMatchObject({ enabled: false });
    expect(stored!.disabledReason).toMatch(/no successful delivery for 3s/);
    expect(stored!.disabledReason).toMatch(/retries exhausted/);
    expect(stored!.disabledAt).toBeGreaterThanOrEqual(failing.requests[4]!.at);
  });

  it('keeps a destination enabled when it had a 2xx within the period (a success resets the clock)', async () => {
    const doomed = makeEvent({ deviceType: 'sometimes-ok' });
    const mixed = await env.receiver((request) => ({
      status: request.headers['webhook-id'] === doomed.key ? 500 : 200,
    }));
    const destination = await env.createDestination({
      url: mixed.url,
      deviceTypes: ['sometimes-ok'],
    });
    const before = await disabledForFailing();
    await env.writer.send([doomed]);

    // Other events keep succeeding while the doomed one runs out of retries.
    const doomedRequests = () =>
      mixed.requests.filter((request) => request.headers['webhook-id'] === doomed.key);
    let dead: DeliveryRecord[] = [];
    await waitFor(
      async () => {
        await env.writer.send([makeEvent({ deviceType: 'sometimes-ok' })]);
        if (doomedRequests().length < 5) return false;
        dead = await env.deadOf(destination.id);
        return dead.length > 0;
      },
      { what: 'doomed delivery dead', intervalMs: 500 },
    );
    expect(dead[0]!.reason).toBe('exhausted');
    // Old enough that only the recent successes keep it from being disabled.
    expect(dead[0]!.deadAt! - destination.enabledAt).toBeGreaterThan(AUTO_DISABLE_AFTER_MS);

    await sleep(1_000);
    expect(env.dispatcher.destinations.get(destination.id)?.enabled).toBe(true);
    expect(await disabledForFailing()).toBe(before);
    const stored = await env.storedDestination(destination.id);
    expect(stored).toMatchObject({ enabled: true, disabledReason: null });
    expect(stored!.lastSuccessAt).not.toBeNull();
  });
});
