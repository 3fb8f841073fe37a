import { startSimulator } from '../../services/oem-simulator/simulator';
import type { FaultKind, SimulatorHandle } from '../../services/oem-simulator/types';
import type { DeviceState } from '../../services/common/device-state';
import { startPoller, type PollerHandle } from '../../services/poller/poller';
import { createMemoryLogger, setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';
import { pollerConfig, registerAccounts, sleep } from './support';

/** What the poller does with a device whose every request gets the fault. */
const EXPECTED: Record<FaultKind, 'offline' | 'skipped'> = {
  expiredToken: 'skipped',
  rateLimit: 'skipped',
  serverError: 'skipped',
  offline: 'offline',
  slow: 'skipped',
  malformedJson: 'skipped',
  missingFields: 'skipped',
  otherUnits: 'skipped',
};
const KINDS = Object.keys(EXPECTED) as FaultKind[];
const INTERVAL_MS = 2_000;

describe('poll cycle under injected faults', () => {
  let testKafka: TestKafka;
  let sim: SimulatorHandle;
  let poller: PollerHandle;
  const records: DeviceState[] = [];

  beforeAll(async () => {
    testKafka = await setUpTestKafka({
      only: ['connections.v1', 'commands.v1', 'device-state.v1'],
      partitions: 3,
    });
    // One device per fault kind and OEM, plus one healthy device per OEM.
    const perOem = KINDS.length + 1;
    sim = await startSimulator({
      port: 0,
      seed: 11,
      fleet: { tesla: perOem, enphase: perOem },
      faults: { slowDelayMs: 1_500, retryAfterSeconds: 1 },
    });
    await registerAccounts(testKafka, sim.accounts());
    const config = pollerConfig(testKafka, sim.url, {
      OEM_TIMEOUT_MS: '500',
      OEM_MAX_ATTEMPTS: '2',
      CIRCUIT_FAILURE_THRESHOLD: '10000',
    });
    poller = await startPoller({
      config,
      logger: createMemoryLogger('poller').logger,
      onRecords: (batch) => records.push(...batch),
    });
    await waitFor(() => new Set(records.map((r) => r.deviceId)).size === 2 * perOem, {
      timeoutMs: 20_000,
      what: 'a first healthy cycle of every device',
    });
  });

  afterAll(async () => {
    await poller?.stop();
    await sim?.stop();
    await testKafka?.close();
  });

  it('skips or marks offline only the faulty device, retries as designed, and recovers', async () => {
    const truth = sim.truth().devices;
    const faulty = new Map<string, FaultKind>();
    for (const oem of ['tesla', 'enphase'] as const) {
      const devices = truth.filter((device) => device.oem === oem);
      KINDS.forEach((kind, index) => faulty.set(devices[index]!.deviceId, kind));
    }
    const healthy = truth.map((d) => d.deviceId).filter((id) => !faulty.has(id));
    const before = await snapshot(poller);

    sim.setFaults({
      slowDelayMs: 1_500,
      retryAfterSeconds: 1,
      devices: Object.fromEntries([...faulty].map(([deviceId, kind]) => [deviceId, { [kind]: 1 }])),
    });
    // Cycles already running when the faults were set may still finish cleanly.
    await sleep(INTERVAL_MS + 1_500);
    const from = records.length;
    await sleep(2 * INTERVAL_MS + 500);
    const during = records.slice(from);

    for (const deviceId of healthy) {
      const mine = during.filter((r) => r.deviceId === deviceId);
      expect(mine.length).toBeGreaterThanOrEqual(1);
      expect(mine.every((r) => r.connectivity === 'ONLINE')).toBe(true);
    }
    for (const [deviceId, kind] of faulty) {
      const mine = during.filter((r) => r.deviceId === deviceId);
      if (EXPECTED[kind] === 'offline') {
        expect(mine.length).toBeGreaterThanOrEqual(1);
        expect(mine.every((r) => r.connectivity === 'OFFLINE' && r.state === null)).toBe(true);
      } else {
        expect({ deviceId, kind, records: mine.length }).toEqual({ deviceId, kind, records: 0 });
      }
    }

    // Every kind was really injected, and the poller reacted the designed way.
    const injected = sim.stats().faults;
    for (const kind of KINDS) expect({ kind, n: injected[kind] > 0 }).toEqual({ kind, n: true });
    const after = await snapshot(poller);
    expect(after.retries).toBeGreaterThan(before.retries); // 5xx, timeouts
    expect(after.oemWaits).toBeGreaterThan(before.oemWaits); // Retry-After honoured
    expect(after.timeouts).toBeGreaterThan(before.timeouts);
    expect(after.refreshes).toBeGreaterThan(before.refreshes); // 401 → refresh → retry
    for (const reason of ['malformed_json', 'missing_field', 'implausible_value']) {
      expect({
        reason,
        more: (after.normalization[reason] ?? 0) > (before.normalization[reason] ?? 0),
      }).toEqual({
        reason,
        more: true,
      });
    }
    expect(poller.isReady()).toBe(true);

    // Faults cleared: every faulty device reports again, its account's tokens still valid.
    sim.setFaults({});
    const recoveredFrom = records.length;
    await waitFor(
      () => {
        const seen = new Set(
          records
            .slice(recoveredFrom)
            .filter((r) => r.connectivity === 'ONLINE')
            .map((r) => r.deviceId),
        );
        return [...faulty.keys()].every((id) => seen.has(id));
      },
      { timeoutMs: 4 * INTERVAL_MS + 3_000, what: 'faulty devices to recover' },
    );
  });
});

async function snapshot(poller: PollerHandle) {
  const sum = async (
    metric: {
      get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }>;
    },
    filter: (labels: Record<string, unknown>) => boolean = () => true,
  ) =>
    (await metric.get()).values
      .filter((v) => filter(v.labels))
      .reduce((total, v) => total + v.value, 0);
  const { metrics } = poller;
  const normalization: Record<string, number> = {};
  for (const value of (await metrics.normalizationFailures.get()).values) {
    const reason = String(value.labels.reason);
    normalization[reason] = (normalization[reason] ?? 0) + value.value;
  }
  return {
    retries: await sum(metrics.retries),
    oemWaits: await sum(metrics.rateLimitWaits, (labels) => labels.source === 'oem'),
    timeouts: await sum(metrics.requests, (labels) => labels.outcome === 'timeout'),
    refreshes: await sum(metrics.tokenRefreshes, (labels) => labels.outcome === 'ok'),
    normalization,
  };
}
