import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimulatorHandle } from '../../services/oem-simulator/types';
import { startPoller, type PollerHandle } from '../../services/poller/poller';
import { createMemoryLogger, setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';
import { collectDeviceStates, pollerConfig, registerAccounts } from './support';

describe('startPoller', () => {
  let testKafka: TestKafka;
  let sim: SimulatorHandle;
  let poller: PollerHandle | undefined;
  let collector: Awaited<ReturnType<typeof collectDeviceStates>> | undefined;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({
      only: ['connections.v1', 'commands.v1', 'device-state.v1'],
      partitions: 3,
    });
    sim = await startSimulator({ port: 0, seed: 7, fleet: { tesla: 3, enphase: 2 } });
  });

  afterAll(async () => {
    await poller?.stop();
    await collector?.stop();
    await sim.stop();
    await testKafka.close();
  });

  it('writes exactly one decodable record per simulated device per cycle', async () => {
    const connections = await registerAccounts(testKafka, sim.accounts());
    const { logger, lines } = createMemoryLogger('poller');
    poller = await startPoller({ config: pollerConfig(testKafka, sim.url), logger });
    collector = await collectDeviceStates(testKafka);
    const truth = sim
      .truth()
      .devices.map((device) => device.deviceId)
      .sort();
    expect(truth).toHaveLength(5);

    await waitFor(() => new Set(collector!.records.map((r) => r.deviceId)).size === 5, {
      timeoutMs: 20_000,
      what: 'a record from every device',
    });
    await waitFor(() => collector!.records.length >= 15, { timeoutMs: 20_000, what: '3 cycles' });
    await poller.stop();
    const polls = await poller.metrics.polls.get();
    const okPolls = polls.values
      .filter((value) => value.labels.outcome === 'ok')
      .reduce((sum, value) => sum + value.value, 0);
    const produced = await poller.metrics.recordsProduced.get();
    const producedTotal = produced.values.reduce((sum, value) => sum + value.value, 0);
    poller = undefined;
    await waitFor(() => collector!.records.length === producedTotal, {
      what: 'collector caught up',
    });

    // One battery per simulated account: every ok cycle is exactly one record, none doubled.
    expect(polls.values.filter((value) => value.labels.outcome !== 'ok')).toEqual([]);
    expect(collector.records).toHaveLength(okPolls);
    expect([...new Set(collector.records.map((r) => r.deviceId))].sort()).toEqual(truth);
    for (const record of collector.records) {
      expect(record.connectivity).toBe('ONLINE');
      expect(record.state?.chargePercentage).toEqual(expect.any(Number));
      expect(record.state?.chargeRate).toEqual(expect.any(Number));
      const connection = connections.find((c) => c.connectionId === record.connectionId);
      expect(record.workspaceId).toBe(connection?.workspaceId);
      expect(record.site.id).toBe(connection?.site.id);
    }
    // A Tesla record carries charge Wh; the Enphase API sends no capacity.
    const tesla = collector.records.find((r) => r.oem === 'tesla');
    expect(tesla?.state?.charge).toBeGreaterThan(0);

    // No secret reached the logs.
    const logText = JSON.stringify(lines());
    for (const account of sim.accounts()) {
      expect(logText).not.toContain(account.clientSecret);
    }
    expect(logText).not.toMatch(/rt\.\d+\./);
  });
});
