import type { DeviceProfile, Home } from './fleet';
import { OEM_CODE } from './fleet';
import { uniform } from './random';

export type OperationMode = 'self_consumption' | 'autonomous' | 'backup';

export interface DeviceControls {
  reservePct: number;
  mode: OperationMode;
  stormEnabled: boolean;
}

/** One completed 15-minute interval (Enphase's battery telemetry granularity). */
export interface EnergyInterval {
  /** Epoch ms at the end of the interval. */
  endAt: number;
  chargeWh: number;
  dischargeWh: number;
  socPct: number;
}

/** Sign conventions: batteryW > 0 discharging, < 0 charging; gridW > 0 importing. */
export interface BatteryReading {
  at: number;
  solarW: number;
  loadW: number;
  batteryW: number;
  gridW: number;
  socWh: number;
  socPct: number;
  capacityWh: number;
  controls: DeviceControls;
  stormActive: boolean;
  intervals: EnergyInterval[];
}

export interface BatteryModel {
  /**
   * The reading as of `at` (default `now`), the device's state advanced to `now`. `at` may lie
   * up to REPORT_HISTORY_MS before `now` for an Enphase device (a gateway's last report);
   * earlier instants read as the oldest step kept.
   */
  read(device: DeviceProfile, home: Home, now: number, at?: number): BatteryReading;
  /** Applies a command from the current 60 s step on. */
  command(device: DeviceProfile, home: Home, now: number, change: Partial<DeviceControls>): void;
  /** How many devices hold state (were read or commanded at least once). */
  size(): number;
}

export const STEP_MS = 60_000;
export const INTERVAL_MS = 15 * 60_000;
/** How far back an Enphase reading can be replayed: one 5-minute report window and a step. */
export const REPORT_HISTORY_MS = 6 * STEP_MS;

/**
 * Physics of one home: solar follows the local time of day (a clear-sky sine, scaled by a daily
 * cloudiness draw), the load has morning and evening peaks, the battery covers the difference
 * within its power limit and the backup reserve, and the grid covers the rest. State of charge
 * integrates battery power on a fixed 60 s grid aligned to the epoch, so a reading at a given
 * simulated time is the same whatever the reads before it. Devices are materialized lazily.
 */
export function createBatteryModel(seed: number): BatteryModel {
  const states = new Map<string, DeviceState>();

  function stateOf(device: DeviceProfile, home: Home, now: number): DeviceState {
    let state = states.get(device.deviceId);
    if (state === undefined) {
      state = {
        step: Math.floor(device.addedAt / STEP_MS),
        socWh: (device.capacityWh * device.initialSocPct) / 100,
        controls: {
          reservePct: device.initialReservePct,
          mode: 'self_consumption',
          stormEnabled: device.initialStormEnabled,
        },
        chargeWh: 0,
        dischargeWh: 0,
        intervals: [],
        past: [],
      };
      states.set(device.deviceId, state);
    }
    advance(state, device, home, Math.floor(now / STEP_MS));
    return state;
  }

  function advance(state: DeviceState, device: DeviceProfile, home: Home, targetStep: number) {
    if (targetStep - state.step > MAX_CATCH_UP_STEPS) {
      // Limitation: after a jump of more than two simulated days the battery resumes from its
      // last state instead of integrating every minute of the gap.
      state.step = targetStep - MAX_CATCH_UP_STEPS;
      state.intervals = [];
      state.past = [];
    }
    const keepsIntervals = device.oem === 'enphase';
    while (state.step < targetStep) {
      const flow = stepFlow(seed, device, home, state, state.step);
      if (keepsIntervals) {
        // What this step's integration used, so that a past instant reads the same as it
        // would have then (controls are replaced on a command, never changed in place).
        state.past.push({ step: state.step, socWh: state.socWh, controls: state.controls });
        if (state.past.length > REPORT_HISTORY_MS / STEP_MS) state.past.shift();
      }
      const energyWh = (flow.batteryW * STEP_MS) / 3_600_000;
      state.socWh = clamp(state.socWh - energyWh, 0, device.capacityWh);
      if (energyWh > 0) state.dischargeWh += energyWh;
      else state.chargeWh -= energyWh;
      state.step += 1;

      const endAt = state.step * STEP_MS;
      if (endAt % INTERVAL_MS === 0) {
        if (keepsIntervals) {
          state.intervals.push({
            endAt,
            chargeWh: Math.round(state.chargeWh),
            dischargeWh: Math.round(state.dischargeWh),
            socPct: Math.round((state.socWh / device.capacityWh) * 100),
          });
          if (state.intervals.length > KEPT_INTERVALS) state.intervals.shift();
        }
        state.chargeWh = 0;
        state.dischargeWh = 0;
      }
    }
  }

  return {
    read(device, home, now, at = now) {
      const state = stateOf(device, home, now);
      const atStep = Math.floor(at / STEP_MS);
      const stepState =
        atStep >= state.step ? state : (state.past.find((past) => past.step >= atStep) ?? state);
      const flow = stepFlow(seed, device, home, stepState, stepState.step);
      const elapsedMs = clamp(Math.min(at, now) - stepState.step * STEP_MS, 0, STEP_MS);
      const socWh = clamp(
        stepState.socWh - (flow.batteryW * elapsedMs) / 3_600_000,
        0,
        device.capacityWh,
      );
      return {
        at,
        ...flow,
        socWh,
        socPct: (socWh / device.capacityWh) * 100,
        capacityWh: device.capacityWh,
        controls: { ...stepState.controls },
        intervals: state.intervals.filter((interval) => interval.endAt <= at),
      };
    },
    command(device, home, now, change) {
      const state = stateOf(device, home, now);
      state.controls = { ...state.controls, ...definedOnly(change) };
    },
    size: () => states.size,
  };
}

interface DeviceState {
  /** Index of the 60 s grid point the state is at (time = step * STEP_MS). */
  step: number;
  socWh: number;
  controls: DeviceControls;
  /** Energy of the 15-minute interval in progress. */
  chargeWh: number;
  dischargeWh: number;
  intervals: EnergyInterval[];
  /** Enphase only: the step states of the last REPORT_HISTORY_MS, oldest first. */
  past: StepState[];
}

type StepState = Pick<DeviceState, 'step' | 'socWh' | 'controls'>;

const KEPT_INTERVALS = 8;
const MAX_CATCH_UP_STEPS = 2 * 24 * 60;
const HOUR_MS = 3_600_000;
const STORM_WINDOW_MS = 6 * HOUR_MS;
const DRAW = { cloud: 31, solarNoise: 32, loadNoise: 33, storm: 34 } as const;

interface Flow {
  solarW: number;
  loadW: number;
  batteryW: number;
  gridW: number;
  stormActive: boolean;
}

function stepFlow(
  seed: number,
  device: DeviceProfile,
  home: Home,
  state: StepState,
  step: number,
): Flow {
  const code = OEM_CODE[device.oem];
  const key = [seed, code, device.accountIndex, device.generation] as const;
  const midpoint = step * STEP_MS + STEP_MS / 2;
  const localMs = midpoint + home.utcOffsetMinutes * 60_000;
  const hour = (((localMs / HOUR_MS) % 24) + 24) % 24;
  const day = Math.floor(localMs / (24 * HOUR_MS));

  const daylight = hour > 6 && hour < 18 ? Math.sin((Math.PI * (hour - 6)) / 12) : 0;
  const cloud = 0.55 + 0.45 * uniform(...key, day, DRAW.cloud);
  const solarJitter = 0.9 + 0.2 * uniform(...key, step, DRAW.solarNoise);
  const solarW = Math.round(device.solarPeakW * daylight * cloud * solarJitter);

  const peaks = 1 + 0.8 * bump(hour, 7.5, 1.2) + 1.5 * bump(hour, 19, 2);
  const loadJitter = 0.75 + 0.5 * uniform(...key, step, DRAW.loadNoise);
  const loadW = Math.round(device.baseLoadW * peaks * loadJitter);

  const { controls } = state;
  const stormWindow = Math.floor(midpoint / STORM_WINDOW_MS);
  const stormActive = controls.stormEnabled && uniform(...key, stormWindow, DRAW.storm) < 0.05;
  const mode: OperationMode = stormActive ? 'backup' : controls.mode;
  const batteryW = limitBatteryPower(desiredBatteryPower(mode, hour, solarW, loadW, device), {
    device,
    socWh: state.socWh,
    reservePct: controls.reservePct,
  });

  return { solarW, loadW, batteryW, gridW: loadW - solarW - batteryW, stormActive };
}

function desiredBatteryPower(
  mode: OperationMode,
  hour: number,
  solarW: number,
  loadW: number,
  device: DeviceProfile,
): number {
  const net = loadW - solarW;
  if (mode === 'self_consumption') return net;
  // Time-based control: discharge only in the evening peak, otherwise only soak up solar.
  if (mode === 'autonomous') return hour >= 16 && hour < 21 ? net : Math.min(0, net);
  // Backup: never discharge while the grid is up; top up from solar, or slowly from the grid.
  return -Math.max(solarW - loadW, device.maxPowerW / 3);
}

function limitBatteryPower(
  desiredW: number,
  limits: { device: DeviceProfile; socWh: number; reservePct: number },
): number {
  const { device, socWh, reservePct } = limits;
  const perStep = 3_600_000 / STEP_MS;
  if (desiredW > 0) {
    const availableWh = Math.max(0, socWh - (device.capacityWh * reservePct) / 100);
    return Math.round(Math.min(desiredW, device.maxPowerW, availableWh * perStep));
  }
  const roomWh = device.capacityWh - socWh;
  return Math.round(Math.max(desiredW, -device.maxPowerW, -roomWh * perStep));
}

function bump(hour: number, center: number, width: number): number {
  return Math.exp(-(((hour - center) / width) ** 2));
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function definedOnly<T extends object>(value: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
