import type { DeviceState } from '../../services/common/device-state';
import { createBatteryModel } from '../../services/oem-simulator/battery-model';
import { createFleet } from '../../services/oem-simulator/fleet';
import type { SimTruth } from '../../services/oem-simulator/types';
import { createSimulatorReplica } from './state-truth';

/**
 * The e2e test's replica of the simulator judges every reading; a replica that refuses
 * a faithful reading fails the e2e run for nothing, one that accepts a wrong one proves
 * nothing. Lifecycle ticks are not aligned to seconds while live_status timestamps are, so a
 * device installed at a tick is read in a second that began before it existed.
 */
const OPTIONS = { seed: 7, fleet: { tesla: 6, enphase: 0 }, offlineRate: 0, churnRate: 0.3 };
const TICK_MS = 6_000;
const STARTED_AT = Date.UTC(2026, 0, 1) + 400; // ticks fall 400 ms into a second

describe('the e2e simulator replica', () => {
  const fleet = createFleet({
    seed: OPTIONS.seed,
    counts: OPTIONS.fleet,
    startedAt: STARTED_AT,
    lifecycleTickMs: TICK_MS,
    offlineRate: OPTIONS.offlineRate,
    churnRate: OPTIONS.churnRate,
  });
  const now = STARTED_AT + 40 * TICK_MS;
  const truth: SimTruth = {
    now,
    startedAt: STARTED_AT,
    lifecycleTickMs: TICK_MS,
    devices: fleet.truth(now),
  };
  const replica = createSimulatorReplica(OPTIONS, truth);
  // A device that replaced another at a tick after the start.
  const replacement = truth.devices.find((d) => d.addedAt > STARTED_AT)!;

  /** What the poller records for a live_status read at `at`, stamped with its second. */
  function sampleReadAt(at: number): DeviceState {
    const device = fleet.resolveSite('tesla', Number(replacement.oemDeviceId), at)!;
    const reading = createBatteryModel(OPTIONS.seed).read(
      device,
      fleet.home('tesla', device.accountIndex),
      at,
    );
    return {
      deviceId: replacement.deviceId,
      oem: 'tesla',
      polledAt: at + 50,
      state: {
        createdAt: Math.floor(at / 1000) * 1000,
        chargeRate: reading.batteryW,
        gridPower: reading.gridW,
        isStormModeActive: reading.stormActive,
        charge: reading.socWh,
        chargePercentage: reading.socPct,
        backupReserve: reading.controls.reservePct,
        isStormModeEnabled: reading.controls.stormEnabled,
      },
    } as DeviceState;
  }

  it('has a device installed mid-second to test with', () => {
    expect(replacement).toBeDefined();
    expect(replacement.addedAt % 1000).toBe(400);
  });

  it('accepts a reading taken just after the device was installed, in the same second', () => {
    const sample = sampleReadAt(replacement.addedAt + 300);
    expect(replica.listReadingDifferences(sample)).toEqual([]);
  });

  it('still refuses a reading the simulator did not serve', () => {
    const sample = sampleReadAt(replacement.addedAt + 300);
    sample.state!.gridPower = sample.state!.gridPower! + 1;
    expect(replica.listReadingDifferences(sample)).toEqual([expect.stringMatching(/^gridPower: /)]);
  });

  it('refuses a reading of a device in a second in which it was never installed', () => {
    const sample = sampleReadAt(replacement.addedAt + 300);
    sample.state!.createdAt = replacement.addedAt - 5_400;
    sample.polledAt = replacement.addedAt - 4_500;
    expect(replica.listReadingDifferences(sample)).toEqual([
      expect.stringMatching(/^not installed in /),
    ]);
  });
});

describe('the e2e simulator replica on Enphase reports', () => {
  const options = { seed: 7, fleet: { tesla: 0, enphase: 3 }, offlineRate: 0, churnRate: 0 };
  // Noon at the sites (US time zones), so that powers move from one minute to the next.
  const startedAt = Date.UTC(2026, 5, 1, 18, 0, 0) + 400;
  const fleet = createFleet({
    ...options,
    counts: options.fleet,
    startedAt,
    lifecycleTickMs: TICK_MS,
  });
  const now = startedAt + 20 * 60_000;
  const truth: SimTruth = { now, startedAt, lifecycleTickMs: TICK_MS, devices: fleet.truth(now) };
  const replica = createSimulatorReplica(options, truth);
  const [first] = truth.devices;
  const device = fleet.resolveSite('enphase', Number(first!.oemDeviceId), now)!;
  const home = fleet.home('enphase', device.accountIndex);
  const mark = Date.UTC(2026, 5, 1, 18, 10, 0);

  /** What the poller records from a report taken at `reportAt` and polled at `polledAt`. */
  function sampleOf(reportAt: number, socAt: number, polledAt: number): DeviceState {
    const read = (at: number) => createBatteryModel(options.seed).read(device, home, at);
    const report = read(reportAt);
    return {
      deviceId: first!.deviceId,
      oem: 'enphase',
      polledAt,
      state: {
        createdAt: mark,
        chargeRate: report.batteryW,
        gridPower: report.gridW,
        charge: null,
        chargePercentage: Math.round(read(socAt).socPct),
        isStormModeActive: report.stormActive,
        backupReserve: report.controls.reservePct,
        isStormModeEnabled: report.controls.stormEnabled,
      },
    } as DeviceState;
  }

  it('accepts the report of the mark, polled minutes later, the charge from either side of it', () => {
    expect(replica.listReadingDifferences(sampleOf(mark, mark, mark + 200_000))).toEqual([]);
    expect(replica.listReadingDifferences(sampleOf(mark, mark - 300_000, mark + 1_000))).toEqual(
      [],
    );
  });

  it('refuses powers read after the mark they are stamped with', () => {
    const sample = sampleOf(mark + 180_000, mark, mark + 200_000);
    expect(sample.state!.chargeRate).not.toBe(sampleOf(mark, mark, mark).state!.chargeRate);
    expect(replica.listReadingDifferences(sample)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^chargeRate: /)]),
    );
  });
});
