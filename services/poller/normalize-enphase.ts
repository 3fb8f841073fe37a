import type { DeviceState } from '../common/device-state';
import type { Connection } from './connection';
import {
  buildDeviceState,
  chargingStateOf,
  gridStatusOf,
  type DeviceIdentity,
} from './device-state';
import { NormalizationError } from './errors';
import {
  assertRange,
  isObject,
  optionalNumber,
  optionalObject,
  optionalString,
  type JsonObject,
} from './oem-json';

/** One system of GET /api/v4/systems: a site with (at most) one battery, our device. */
export interface EnphaseSystem {
  systemId: string;
  name: string | null;
  /** "comm": the system is not reporting (Enphase's offline). */
  status: string | null;
  operationalAtMs: number | null;
}

export interface EnphaseSystemsPage {
  systems: EnphaseSystem[];
  total: number | null;
}

const MAX_POWER_W = 10_000_000;

export function parseEnphaseSystems(body: JsonObject): EnphaseSystemsPage {
  const systems = body.systems;
  if (!Array.isArray(systems)) {
    throw new NormalizationError('missing_field', 'systems listing has no systems array', {
      what: 'systems',
      field: 'systems',
    });
  }
  return {
    total: optionalNumber(body, 'total', 'systems'),
    systems: systems.filter(isObject).flatMap((entry) => {
      if (entry.system_id === undefined || entry.system_id === null) return [];
      const operationalAt = optionalNumber(entry, 'operational_at', 'systems');
      return [
        {
          systemId: String(entry.system_id),
          name: optionalString(entry, 'name'),
          status: optionalString(entry, 'status'),
          operationalAtMs: operationalAt !== null ? operationalAt * 1000 : null,
        },
      ];
    }),
  };
}

export function enphaseIdentity(system: EnphaseSystem): DeviceIdentity {
  return {
    deviceId: `enphase:${system.systemId}`,
    manufacturer: { slug: 'enphase', displayName: 'Enphase' },
    deviceModel: { slug: 'enphase:iq-battery', displayName: 'IQ Battery' },
    deviceType: 'battery',
    tags: ['battery', 'iq-battery'],
    createdAt: system.operationalAtMs,
  };
}

/** True when the system answers but is not reporting: Enphase serves stale data with 200. */
export function isEnphaseSystemOffline(system: EnphaseSystem, latestTelemetry: JsonObject | null) {
  if (system.status === 'comm') return true;
  if (!latestTelemetry) return false;
  const encharge = firstEncharge(latestTelemetry);
  return encharge !== null && 'power' in encharge && encharge.power === null;
}

/**
 * latest_telemetry + battery telemetry (+ battery_settings and storm_guard when we have them)
 * → DeviceState. Enphase encharge power already uses the schema's sign (> 0 discharging).
 * Enphase returns percentages as integers and the aggregate SoC as an "NN%" string; anything
 * else (a 0..1 fraction, a bare number) is another unit and the response is refused.
 *
 * Grid power is not reported as such: it is the balance of the consumption meter (the load),
 * the production meter (solar) and the battery: grid = load - solar - battery.
 *
 * Limitation: the Monitoring API sends no pack capacity and no daily energy totals, so
 * `charge`, `whConsumed` and `gridEnergy` are null for Enphase. A consumption meter installed
 * as "net" (config_type Net) measures the grid itself; that case is not told apart yet.
 */
export function normalizeEnphaseBattery(input: {
  connection: Connection;
  system: EnphaseSystem;
  latestTelemetry: JsonObject;
  batteryTelemetry: JsonObject;
  batterySettings: JsonObject | null;
  stormGuard: JsonObject | null;
  polledAt: number;
  idleThresholdW: number;
}): DeviceState {
  const encharge = firstEncharge(input.latestTelemetry);
  if (!encharge) {
    throw new NormalizationError('missing_field', 'no encharge in latest telemetry', {
      what: 'latest_telemetry',
      field: 'devices.encharges',
    });
  }
  const power = optionalNumber(encharge, 'power', 'latest_telemetry');
  if (power === null) {
    throw new NormalizationError('missing_field', 'encharge power missing', {
      what: 'latest_telemetry',
      field: 'power',
    });
  }
  assertWholeNumber(power, 'latest_telemetry', 'power');
  assertRange(power, -MAX_POWER_W, MAX_POWER_W, 'latest_telemetry', 'power');

  const percentage = readSoc(input.batteryTelemetry);
  const gridPower = deriveGridPower(input.latestTelemetry, power);
  const reportedAt = optionalNumber(encharge, 'last_report_at', 'latest_telemetry');

  return buildDeviceState(
    input.connection,
    enphaseIdentity(input.system),
    'ONLINE',
    input.polledAt,
    {
      charge: null,
      chargePercentage: percentage,
      chargingState: chargingStateOf(power, input.idleThresholdW),
      whConsumed: null,
      chargeRate: power,
      backupReserve: input.batterySettings ? readReserve(input.batterySettings) : null,
      gridStatus: gridStatusOf(gridPower, input.idleThresholdW),
      gridPower,
      gridEnergy: null,
      isStormModeEnabled: readFlag(input.stormGuard, 'storm_guard_status', 'enabled'),
      isStormModeActive: readFlag(input.stormGuard, 'storm_alert', 'true'),
      createdAt: reportedAt !== null ? reportedAt * 1000 : null,
    },
  );
}

/** The state of charge: the aggregate "NN%" string, else the last interval's percent. */
function readSoc(telemetry: JsonObject): number {
  const what = 'telemetry/battery';
  const aggregate = optionalString(telemetry, 'last_reported_aggregate_soc');
  if (aggregate !== null) {
    const match = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(aggregate);
    if (!match) {
      throw new NormalizationError('implausible_value', 'aggregate SoC is not a percentage', {
        what,
        field: 'last_reported_aggregate_soc',
      });
    }
    const percent = Number(match[1]);
    assertRange(percent, 0, 100, what, 'last_reported_aggregate_soc');
    checkIntervals(telemetry);
    return percent;
  }

  const intervals = checkIntervals(telemetry);
  const last = intervals.at(-1);
  const soc = last ? optionalObject(last, 'soc') : null;
  const percent = soc ? optionalNumber(soc, 'percent', what) : null;
  if (percent === null) {
    throw new NormalizationError('missing_field', 'no state of charge', { what, field: 'soc' });
  }
  return percent;
}

/** Every interval's soc.percent must be a whole percentage (a fraction means other units). */
function checkIntervals(telemetry: JsonObject): JsonObject[] {
  const intervals = Array.isArray(telemetry.intervals) ? telemetry.intervals.filter(isObject) : [];
  for (const interval of intervals) {
    const soc = optionalObject(interval, 'soc');
    const percent = soc ? optionalNumber(soc, 'percent', 'telemetry/battery') : null;
    assertWholeNumber(percent, 'telemetry/battery', 'soc.percent');
    assertRange(percent, 0, 100, 'telemetry/battery', 'soc.percent');
  }
  return intervals;
}

function readReserve(settings: JsonObject): number | null {
  const reserve = optionalNumber(settings, 'reserve_soc', 'battery_settings');
  assertWholeNumber(reserve, 'battery_settings', 'reserve_soc');
  assertRange(reserve, 0, 100, 'battery_settings', 'reserve_soc');
  return reserve;
}

/** Enphase sends these flags as strings ("enabled", "true"). */
function readFlag(body: JsonObject | null, field: string, truthy: string): boolean | null {
  if (!body) return null;
  const value = optionalString(body, field);
  if (value === null) return null;
  return value.toLowerCase().startsWith(truthy);
}

/** Enphase documents W and percentages as integers; a fraction means kW or a 0..1 ratio. */
function assertWholeNumber(value: number | null, what: string, field: string): void {
  if (value !== null && !Number.isInteger(value)) {
    throw new NormalizationError('implausible_value', 'expected a whole number', { what, field });
  }
}

/** load - solar - battery from channel 1 of the two meters; null unless both reported. */
function deriveGridPower(latestTelemetry: JsonObject, batteryPowerW: number): number | null {
  const meters = optionalObject(latestTelemetry, 'devices')?.meters;
  if (!Array.isArray(meters)) return null;
  const powerOf = (name: string) => {
    const meter = meters.find((m: unknown) => isObject(m) && m.name === name && m.channel === 1);
    return isObject(meter) ? optionalNumber(meter, 'power', 'latest_telemetry') : null;
  };
  const load = powerOf('consumption');
  const solar = powerOf('production');
  if (load === null || solar === null) return null;
  assertWholeNumber(load, 'latest_telemetry', 'meters.power');
  assertWholeNumber(solar, 'latest_telemetry', 'meters.power');
  return load - solar - batteryPowerW;
}

function firstEncharge(latestTelemetry: JsonObject): JsonObject | null {
  const devices = optionalObject(latestTelemetry, 'devices');
  const encharges = devices?.encharges;
  if (!Array.isArray(encharges)) return null;
  const first: unknown = encharges[0];
  return isObject(first) ? first : null;
}
