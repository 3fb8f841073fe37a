import { Webhook } from 'standardwebhooks';
import { startDispatcher, type DispatcherHandle } from '../../services/dispatcher/start-dispatcher';
import {
  createDispatcherTestConfig,
  startReceiver,
  type TestReceiver,
} from '../dispatcher/harness';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import { startExecutorFixture, type ExecutorFixture } from '../poller/executor-fixture';
import { describeShape, readSeed, setUpTestKafkaRetrying } from './support';

const TABLE_ONLY: Record<string, string[]> = {
  'enrollment.approved': ['data.customer.phone: string'],
};
const FIVE = [
  'customer.created',
  'site.created',
  'enrollment.approved',
  'command.succeeded',
  'command.failed',
];

describe('admin API events through the dispatcher', () => {
  let testKafka: TestKafka;
  let fixture: ExecutorFixture;
  let dispatcher: DispatcherHandle;
  let receiver: TestReceiver;

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({ partitions: 3 });
    const silent = createMemoryLogger('test').logger;
    // The API, the simulator and a poller replica that runs the commands.
    fixture = await startExecutorFixture(testKafka, silent);
    await fixture.startPoller();
    await fixture.waitForDevice(fixture.devices.tesla);
    receiver = await startReceiver();
    dispatcher = await startDispatcher({
      config: createDispatcherTestConfig(testKafka),
      logger: silent,
    });
  }, 90_000);

  afterAll(async () => {
    await dispatcher?.stop();
    await receiver?.close();
    await fixture?.stop();
    await testKafka?.close();
  });

  const post = (url: string, payload?: unknown) => fixture.post(url, payload);

  test('each of the five event types reaches a receiver signed, with the seed’s shape and version', async () => {
    const destination = await post('/destinations', { url: receiver.url });
    expect(destination.statusCode).toBe(201);
    const { secret } = destination.json() as { secret: string };
    await waitFor(() => dispatcher.destinations.get(destination.json().id) !== undefined, {
      what: 'destination loaded',
    });

    const customer = (
      await post('/customers', {
        organizationId: 'org_1',
        referenceId: 'ref-1',
        email: 'a@example.com',
        firstName: 'A',
        lastName: 'B',
        phone: '+15550000000',
      })
    ).json();
    await post('/sites', {
      referenceId: 'site-ref',
      siteName: 'Home',
      longitude: 1.5,
      latitude: 2.5,
    });
    const enrollment = (
      await post('/enrollments', {
        customerId: customer.id,
        programManager: 'GridCo Energy Services',
      })
    ).json();
    expect((await post(`/enrollments/${enrollment.id}/approve`)).statusCode).toBe(200);
    expect(
      (await post(`/devices/${fixture.devices.tesla}/commands`, { backupReserve: 55 })).statusCode,
    ).toBe(202);
    expect((await post('/devices/tesla:404404/commands', { stormMode: true })).statusCode).toBe(
      202,
    );

    const received = () =>
      receiver.requests.map((request) => ({
        request,
        body: JSON.parse(request.body) as { type: string; version: string },
      }));
    await waitFor(() => FIVE.every((type) => received().some((r) => r.body.type === type)), {
      timeoutMs: 30_000,
      what: 'all five event types at the receiver',
    });

    const webhook = new Webhook(secret);
    for (const type of FIVE) {
      const { request, body } = received().find((r) => r.body.type === type)!;
      expect(() =>
        webhook.verify(request.body, request.headers as Record<string, string>),
      ).not.toThrow();
      const seed = readSeed(type);
      const extras = TABLE_ONLY[type] ?? [];
      expect(describeShape(body).filter((line) => !extras.includes(line))).toEqual(
        describeShape(seed),
      );
      expect(body.version).toBe(seed.version);
    }
  });
});
