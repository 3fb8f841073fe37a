import type { DeviceState } from '../../services/common/device-state';
import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimulatorHandle } from '../../services/oem-simulator/types';
import { startPoller, type PollerHandle } from '../../services/poller/poller';
import { createMemoryLogger, setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';
import { collectDeviceStates, pollerConfig, registerAccounts } from './support';

/**
 * At one request per second and 12 accounts per OEM (a token refresh, a listing and two to
 * four device calls each), every OEM's queue holds tens of seconds of waits: draining it
 * before stopping would take far longer than the bound below.
 */
const ACCOUNTS_PER_OEM = 12;
const STOP_BOUND_MS = 10_000;

describe('poller stop', () => {
  let testKafka: TestKafka;
  let sim: SimulatorHandle;
  let poller: PollerHandle | undefined;
  let collector: Awaited<ReturnType<typeof collectDeviceStates>> | undefined;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({
      only: ['connections.v1', 'commands.v1', 'device-state.v1'],
      partitions: 3,
    });
    sim = await startSimulator({
      port: 0,
      seed: 23,
      fleet: { tesla: ACCOUNTS_PER_OEM, enphase: ACCOUNTS_PER_OEM },
    });
    await registerAccounts(testKafka, sim.accounts());
  });

  afterAll(async () => {
    await poller?.stop();
    await collector?.stop();
    await sim?.stop();
    await testKafka?.close();
  });

  it('stops within seconds behind a deep rate-limit queue, flushing records and tokens', async () => {
    const { logger, lines } = createMemoryLogger('poller');
    const produced: DeviceState[] = [];
    poller = await startPoller({
      config: pollerConfig(testKafka, sim.url, { OEM_RATE_LIMIT_PER_SECOND: '1' }),
      logger,
      onRecords: (batch) => produced.push(...batch),
    });
    collector = await collectDeviceStates(testKafka);
    await waitFor(() => new Set(produced.map((record) => record.oem)).size === 2, {
      timeoutMs: 60_000,
      what: 'a first record of each OEM',
    });
    const queued = await sumOf(poller, 'rateLimitWaits');
    expect(queued).toBeGreaterThan(10);

    const startedAt = Date.now();
    await poller.stop();
    const stopMs = Date.now() - startedAt;
    const first = poller;
    poller = undefined;

    expect(stopMs).toBeLessThan(STOP_BOUND_MS);
    const polls = await first.metrics.polls.get();
    const abandoned = polls.values.filter((value) => value.labels.outcome === 'abandoned');
    expect(abandoned.reduce((sum, value) => sum + value.value, 0)).toBeGreaterThan(0);
    const outcomes = polls.values.filter((value) => value.value > 0);
    expect(
      outcomes.filter((value) => ['failed', 'partial'].includes(value.labels.outcome as string)),
    ).toEqual([]);
    const refreshes = await first.metrics.tokenRefreshes.get();
    expect(refreshes.values.filter((value) => value.labels.outcome !== 'ok')).toEqual([]);
    const messages = lines().map((line) => line.msg);
    expect(messages).not.toContain('poll cycle failed');
    expect(messages).not.toContain('device poll failed');
    expect(messages).toEqual(
      expect.arrayContaining([
        'poller stopping',
        'poll cycles finished',
        'left the consumer group',
        'producer disconnected',
        'poller stopped',
      ]),
    );

    // Everything produced before the stop is on device-state.v1 and decodes as a full record.
    const producedTotal = await sumOf(first, 'recordsProduced');
    expect(producedTotal).toBe(produced.length);
    await waitFor(() => collector!.records.length === producedTotal, {
      what: 'the collector reading every produced record',
    });
    for (const record of collector.records) {
      if (record.connectivity === 'ONLINE') {
        expect(record.state?.chargePercentage).toEqual(expect.any(Number));
      } else {
        expect(record.connectivity).toBe('OFFLINE');
      }
    }
    expect(collector.records.map((r) => r.deviceId).sort()).toEqual(
      produced.map((r) => r.deviceId).sort(),
    );

    // Every refresh token the OEM rotated reached connections.v1: a new replica, refreshing
    // every account on first use (a skew of all but 1 s of the tokens' hour), gets a record
    // from every device and has no refresh refused as already used.
    const nextDevices = new Set<string>();
    const next = await startPoller({
      config: pollerConfig(testKafka, sim.url, { TOKEN_REFRESH_SKEW_SECONDS: '3599' }),
      logger: createMemoryLogger('poller-next').logger,
      onRecords: (batch) => batch.forEach((record) => nextDevices.add(record.deviceId)),
    });
    poller = next;
    const devices = sim.truth().devices.length;
    await waitFor(() => nextDevices.size === devices, {
      timeoutMs: 30_000,
      what: 'a record from every device after the restart',
    });
    const nextRefreshes = await next.metrics.tokenRefreshes.get();
    expect(nextRefreshes.values.filter((value) => value.labels.outcome !== 'ok')).toEqual([]);
    const refreshed = nextRefreshes.values.reduce((sum, value) => sum + value.value, 0);
    expect(refreshed).toBeGreaterThanOrEqual(devices);
  }, 180_000);
});

async function sumOf(
  poller: PollerHandle,
  name: 'rateLimitWaits' | 'recordsProduced',
): Promise<number> {
  const metric = await poller.metrics[name].get();
  return metric.values.reduce((sum, value) => sum + value.value, 0);
}
