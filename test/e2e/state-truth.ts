import type { BatteryState, DeviceState } from '../../services/common/device-state';
import type { RuleConfig } from '../../services/differ/rules';
import { createBatteryModel, STEP_MS } from '../../services/oem-simulator/battery-model';
import { createFleet, type DeviceProfile, type Fleet } from '../../services/oem-simulator/fleet';
import type { SimOem, SimTruth, SimTruthDevice } from '../../services/oem-simulator/types';

/**
 * What the e2e test compares device states with: the differ's deadbands, and the simulator's
 * own physics replayed in the test process (the simulator runs in another process and serves
 * no state outside its OEM APIs, whose single-use refresh tokens belong to the poller).
 */

/** The state of a device.updated as the receiver gets it (times are ISO strings). */
export type ReportedState = Omit<BatteryState, 'createdAt'> & { id: string; createdAt: string };

type Deadbands = RuleConfig['deadbands'];

const NUMERIC_FIELDS = [
  ['chargePercentage', 'chargePercentage'],
  ['charge', 'chargeWh'],
  ['chargeRate', 'powerW'],
  ['gridPower', 'powerW'],
  ['whConsumed', 'energyWh'],
  ['gridEnergy', 'energyWh'],
  ['backupReserve', 'backupReserve'],
] as const satisfies ReadonlyArray<readonly [keyof BatteryState, keyof Deadbands]>;

const CATEGORICAL_FIELDS = [
  'chargingState',
  'gridStatus',
  'isStormModeEnabled',
  'isStormModeActive',
] as const satisfies ReadonlyArray<keyof BatteryState>;

/**
 * The fields in which `polled` moved meaningfully away from `reported`: by at least the
 * field's deadband (any amount when the deadband is 0), a categorical change, or a value that
 * appeared or vanished. The differ emits device.updated for exactly these, so after the last
 * poll this list must be empty. Written out here rather than calling the differ's own
 * compareStates, so that a bug there cannot hide itself.
 */
export function listMeaningfulChanges(
  reported: ReportedState,
  polled: BatteryState,
  deadbands: Deadbands,
): string[] {
  const changes: string[] = [];
  for (const [field, band] of NUMERIC_FIELDS) {
    const before = reported[field];
    const after = polled[field];
    if (before === after) continue;
    const isMeaningful =
      before === null || after === null || Math.abs(after - before) >= deadbands[band];
    if (isMeaningful) {
      changes.push(`${field}: ${before} reported, ${after} polled (deadband ${deadbands[band]})`);
    }
  }
  for (const field of CATEGORICAL_FIELDS) {
    if (reported[field] !== polled[field]) {
      changes.push(`${field}: ${reported[field]} reported, ${polled[field]} polled`);
    }
  }
  return changes;
}

export interface SimulatorReplica {
  /** The replica's lifecycle record; equal to GET /_sim/truth when the replica is faithful. */
  truth(now: number): SimTruthDevice[];
  /**
   * How a sample differs from what the simulator served; nothing wider than the simulator's
   * own uncertainty is allowed.
   *
   * Tesla: live_status `timestamp` is the simulator's clock cut to the second, so the reading
   * was taken at some instant of [timestamp, timestamp + 1 s) (and not after the poller had
   * the answer): powers and storm state must equal the simulator's at one instant of that
   * second, charge and percentage must lie within their range over it.
   *
   * Enphase: telemetry is that of the gateway's last 5-minute report, and `last_report_at`
   * names it, so powers must equal the simulator's at exactly that instant. The state of
   * charge comes from a second request sent beside it, which may have been answered on the
   * other side of a report mark: the report's or a neighbouring one's, rounded to a whole
   * percent. Storm state comes from a third request, answered at or before the poll.
   */
  listReadingDifferences(sample: DeviceState): string[];
}

/**
 * The simulator's fleet and battery model, rebuilt from the options the simulator was started
 * with and its truth's startedAt/lifecycleTickMs. Its physics is a pure function of the
 * simulated time ("a reading at a given simulated time is the same whatever the reads before
 * it", battery-model.ts), and the e2e run sends no commands, so the replica reads what the
 * simulator read at any past instant.
 */
export function createSimulatorReplica(
  options: {
    seed: number;
    fleet: Record<SimOem, number>;
    offlineRate: number;
    churnRate: number;
  },
  truth: SimTruth,
): SimulatorReplica {
  const fleet: Fleet = createFleet({
    seed: options.seed,
    counts: options.fleet,
    startedAt: truth.startedAt,
    lifecycleTickMs: truth.lifecycleTickMs,
    offlineRate: options.offlineRate,
    churnRate: options.churnRate,
  });

  /**
   * The instants of [from, to] at which the reading can differ, among the ends, model steps
   * and lifecycle ticks, at which this site's device was installed: a tick may install or
   * remove it in between (ticks are not aligned to seconds or steps).
   */
  function installedInstants(oem: SimOem, siteId: number, from: number, to: number) {
    const instants = new Set([from, to]);
    for (let at = Math.ceil(from / STEP_MS) * STEP_MS; at <= to; at += STEP_MS) instants.add(at);
    const { startedAt, lifecycleTickMs } = truth;
    const firstTick = startedAt + Math.ceil((from - startedAt) / lifecycleTickMs) * lifecycleTickMs;
    for (let at = firstTick; at <= to; at += lifecycleTickMs) instants.add(at);
    return [...instants]
      .filter((at) => at >= from && at <= to)
      .sort((a, b) => a - b)
      .map((at) => ({ at, device: fleet.resolveSite(oem, siteId, at) }))
      .filter((c): c is { at: number; device: DeviceProfile } => c.device !== null);
  }

  return {
    truth: (now) => fleet.truth(now),
    listReadingDifferences(sample) {
      const state = sample.state;
      if (state === null || state.createdAt === null) return ['no timestamped state'];
      const oem = sample.oem as SimOem;
      const siteId = Number(sample.deviceId.slice(`${oem}:`.length));
      const from = state.createdAt;
      const to = oem === 'tesla' ? Math.min(from + 999, sample.polledAt) : sample.polledAt;
      const installed = installedInstants(oem, siteId, from, to);
      if (installed.length === 0) {
        return [
          `not installed in ${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`,
        ];
      }
      const device = installed[0]!.device;
      const home = fleet.home(oem, device.accountIndex);
      const model = createBatteryModel(options.seed);
      const check = createComparison();

      if (oem === 'tesla') {
        const readings = installed.map(({ at }) => model.read(device, home, at));
        check.oneOf(
          'chargeRate',
          state.chargeRate,
          readings.map((r) => r.batteryW),
        );
        check.oneOf(
          'gridPower',
          state.gridPower,
          readings.map((r) => r.gridW),
        );
        check.oneOf(
          'isStormModeActive',
          state.isStormModeActive,
          readings.map((r) => r.stormActive),
        );
        check.within(
          'charge',
          state.charge,
          readings.map((r) => r.socWh),
        );
        check.within(
          'chargePercentage',
          state.chargePercentage,
          readings.map((r) => r.socPct),
        );
        check.oneOf('backupReserve', state.backupReserve, [readings[0]!.controls.reservePct]);
        check.oneOf('isStormModeEnabled', state.isStormModeEnabled, [
          readings[0]!.controls.stormEnabled,
        ]);
        return check.differences;
      }

      // A model of its own for each instant: one model only reads forward (and a few steps back).
      const readAt = (at: number) => createBatteryModel(options.seed).read(device, home, at);
      const reported = readAt(from);
      const marks = [from - REPORT_MS, from, from + REPORT_MS].filter((at) => at <= to);
      const polled = readAt(sample.polledAt);
      check.oneOf('chargeRate', state.chargeRate, [reported.batteryW]);
      check.oneOf('gridPower', state.gridPower, [reported.gridW]);
      check.oneOf('charge', state.charge, [null]);
      check.oneOf(
        'chargePercentage',
        state.chargePercentage,
        marks.map((at) => Math.round(readAt(at).socPct)),
      );
      check.oneOf('isStormModeActive', state.isStormModeActive, [
        reported.stormActive,
        polled.stormActive,
      ]);
      check.oneOf('backupReserve', state.backupReserve, [reported.controls.reservePct]);
      check.oneOf('isStormModeEnabled', state.isStormModeEnabled, [reported.controls.stormEnabled]);
      return check.differences;
    },
  };
}

/** Collects the fields in which a sample differs from the simulator's possible values. */
function createComparison() {
  const differences: string[] = [];
  return {
    differences,
    oneOf(field: string, actual: unknown, values: unknown[]) {
      if (!values.includes(actual)) differences.push(`${field}: ${actual}, simulator ${values}`);
    },
    within(field: string, actual: number | null, values: number[]) {
      const [low, high] = [Math.min(...values) - 1e-6, Math.max(...values) + 1e-6];
      if (actual === null || actual < low || actual > high) {
        differences.push(`${field}: ${actual}, simulator ${low}..${high}`);
      }
    },
  };
}

/** Enphase gateways report every 5 minutes. */
const REPORT_MS = 5 * 60_000;
