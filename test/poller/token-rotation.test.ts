import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Consumer } from 'kafkajs';
import { createAvroSerde } from '../../services/common/avro';
import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimulatorHandle } from '../../services/oem-simulator/types';
import type { Connection } from '../../services/poller/connection';
import { decodeConnectionMessage } from '../../services/poller/connection-store';
import type { DeviceState } from '../../services/common/device-state';
import { startPoller, type PollerHandle } from '../../services/poller/poller';
import { createMemoryLogger, setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';
import { pollerConfig, pollerEnv, registerAccounts } from './support';

const ROOT = path.join(__dirname, '../..');

describe('refresh-token rotation', () => {
  let testKafka: TestKafka;
  let sim: SimulatorHandle;
  let child: ChildProcess | undefined;
  let poller: PollerHandle | undefined;
  let tail: Consumer | undefined;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({
      only: ['connections.v1', 'commands.v1', 'device-state.v1'],
      partitions: 3,
    });
    sim = await startSimulator({ port: 0, seed: 3, fleet: { tesla: 1, enphase: 0 } });
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await poller?.stop();
    await tail?.disconnect();
    await sim.stop();
    await testKafka.close();
  });

  it('survives a poller killed right after a refresh: the restart uses the persisted token', async () => {
    const [registered] = await registerAccounts(testKafka, sim.accounts());
    const revisions: Connection[] = [];
    tail = await tailConnections(testKafka, revisions);

    child = spawn(process.execPath, ['--import', 'tsx', 'services/poller/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...pollerEnv(testKafka, sim.url, { POLL_INTERVAL_TESLA_SECONDS: '1' }),
      },
      stdio: 'ignore',
    });
    await waitFor(() => revisions.some((r) => r.updatedAt > registered!.updatedAt), {
      timeoutMs: 30_000,
      what: 'the rotated token on connections.v1',
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    child = undefined;

    // The token the simulator accepts now is exactly the one the poller persisted.
    const persisted = revisions.filter((r) => r.updatedAt > registered!.updatedAt).at(-1)!;
    const [account] = sim.accounts();
    expect(persisted.credentials.refreshToken).not.toBe(registered!.credentials.refreshToken);
    expect(account!.refreshToken).toBe(persisted.credentials.refreshToken);

    // Expire the access token so the restarted poller must use the persisted refresh token.
    sim.advance(2 * 3_600_000);
    const restartedAt = Date.now();
    const records: DeviceState[] = [];
    poller = await startPoller({
      config: pollerConfig(testKafka, sim.url, { POLL_INTERVAL_TESLA_SECONDS: '1' }),
      logger: createMemoryLogger('poller').logger,
      onRecords: (batch) => records.push(...batch),
    });
    await waitFor(() => records.some((r) => r.connectivity === 'ONLINE'), {
      timeoutMs: 20_000,
      what: 'a record after the restart',
    });

    const refreshes = (await poller.metrics.tokenRefreshes.get()).values;
    expect(refreshes.find((v) => v.labels.outcome === 'ok')?.value).toBeGreaterThanOrEqual(1);
    expect(refreshes.filter((v) => v.labels.outcome !== 'ok' && v.value > 0)).toEqual([]);
    const rejected = sim.stats().requests.filter((r) => r.endpoint === 'token' && r.status !== 200);
    expect(rejected).toEqual([]);
    expect(records[0]!.polledAt).toBeGreaterThanOrEqual(restartedAt);
  });
});

async function tailConnections(testKafka: TestKafka, into: Connection[]): Promise<Consumer> {
  const serde = createAvroSerde(testKafka.config);
  const consumer = testKafka.kafka.consumer({ groupId: `${testKafka.config.topicPrefix}.tail` });
  await consumer.connect();
  await consumer.subscribe({ topic: testKafka.topics['connections.v1'], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const change = await decodeConnectionMessage(serde, message);
      if (change?.connection) into.push(change.connection);
    },
  });
  return consumer;
}
