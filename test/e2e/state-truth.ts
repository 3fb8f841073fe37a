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
   * How a Tesla sample differs from what the simulator served. live_status `timestamp` is the
   * simulator's clock cut to the second, so the reading was taken at some instant of
   * [timestamp, timestamp + 1 s) (and not after the poller had the answer): powers and storm
   * state must equal the simulator's at one instant of that second, charge and percentage must
   * lie within their range over it. Nothing wider is allowed.
   */
  listTeslaReadingDifferences(sample: DeviceState): string[];
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

  return {
    truth: (now) => fleet.truth(now),
    listTeslaReadingDifferences(sample) {
      const state = sample.state;
      if (state === null || state.createdAt === null) return ['no timestamped state'];
      const from = state.createdAt;
      const to = Math.min(from + 999, sample.polledAt);
      const siteId = Number(sample.deviceId.replace(/^tesla:/, ''));
      // The instants at which the reading can differ: the ends of the second, and the model
      // step and lifecycle tick inside it. A tick may install or remove this very device
      // mid-second (ticks are not aligned to seconds), so only the instants at which the
      // device was installed count.
      const stepBoundary = Math.ceil(from / STEP_MS) * STEP_MS;
      const tickBoundary =
        truth.startedAt +
        Math.ceil((from - truth.startedAt) / truth.lifecycleTickMs) * truth.lifecycleTickMs;
      const candidates = [from, stepBoundary, tickBoundary, to].filter(
        (at, index, all) => at >= from && at <= to && all.indexOf(at) === index,
      );
      const installed = candidates
        .map((at) => ({ at, device: fleet.resolveSite('tesla', siteId, at) }))
        .filter((c): c is { at: number; device: DeviceProfile } => c.device !== null);
      if (installed.length === 0) {
        return [
          `not installed in ${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`,
        ];
      }

      const home = fleet.home('tesla', installed[0]!.device.accountIndex);
      const model = createBatteryModel(options.seed);
      const readings = installed.map(({ device, at }) => model.read(device, home, at));

      const differences: string[] = [];
      const expectOneOf = (field: string, actual: unknown, values: unknown[]) => {
        if (!values.includes(actual)) differences.push(`${field}: ${actual}, simulator ${values}`);
      };
      const expectWithin = (field: string, actual: number | null, values: number[]) => {
        const [low, high] = [Math.min(...values) - 1e-6, Math.max(...values) + 1e-6];
        if (actual === null || actual < low || actual > high) {
          differences.push(`${field}: ${actual}, simulator ${low}..${high}`);
        }
      };
      expectOneOf(
        'chargeRate',
        state.chargeRate,
        readings.map((r) => r.batteryW),
      );
      expectOneOf(
        'gridPower',
        state.gridPower,
        readings.map((r) => r.gridW),
      );
      expectOneOf(
        'isStormModeActive',
        state.isStormModeActive,
        readings.map((r) => r.stormActive),
      );
      expectWithin(
        'charge',
        state.charge,
        readings.map((r) => r.socWh),
      );
      expectWithin(
        'chargePercentage',
        state.chargePercentage,
        readings.map((r) => r.socPct),
      );
      expectOneOf('backupReserve', state.backupReserve, [readings[0]!.controls.reservePct]);
      expectOneOf('isStormModeEnabled', state.isStormModeEnabled, [
        readings[0]!.controls.stormEnabled,
      ]);
      return differences;
    },
  };
}
