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
  optionalBoolean,
  optionalNumber,
  optionalObject,
  optionalString,
  parseTimestampMs,
  requiredNumber,
  type JsonObject,
} from './oem-json';

/** A battery site from GET /api/1/products. */
export interface TeslaSite {
  energySiteId: string;
  siteName: string | null;
  totalPackEnergyWh: number | null;
  stormModeEnabled: boolean | null;
}

/** The smallest and largest pack we accept as Wh; anything else is another unit or garbage. */
const MIN_PACK_WH = 1_000;
const MAX_PACK_WH = 10_000_000;
const MAX_POWER_W = 10_000_000;
/** How far apart percentage_charged and energy_left / total_pack_energy may be, points. */
const MAX_PERCENT_MISMATCH = 5;

/**
 * Battery sites of a products listing. The listing mixes vehicles (no energy_site_id) and
 * solar-only sites (resource_type "solar") in with batteries; only batteries are devices here.
 */
export function parseTeslaProducts(products: JsonObject): TeslaSite[] {
  const entries = products.response;
  if (!Array.isArray(entries)) {
    throw new NormalizationError('missing_field', 'products listing has no response array', {
      what: 'products',
      field: 'response',
    });
  }
  return entries.filter(isBatterySite).map((entry) => {
    const total = optionalNumber(entry, 'total_pack_energy', 'products');
    return {
      energySiteId: String(entry.energy_site_id),
      siteName: optionalString(entry, 'site_name'),
      totalPackEnergyWh: total !== null && total >= MIN_PACK_WH ? total : null,
      stormModeEnabled: optionalBoolean(entry, 'storm_mode_enabled'),
    };
  });
}

export function teslaIdentity(energySiteId: string, siteInfo: JsonObject | null): DeviceIdentity {
  return {
    deviceId: `tesla:${energySiteId}`,
    manufacturer: { slug: 'tesla', displayName: 'Tesla' },
    deviceModel: { slug: 'tesla:powerwall', displayName: 'Powerwall' },
    deviceType: 'battery',
    tags: ['battery', 'powerwall'],
    createdAt: siteInfo ? parseTimestampMs(optionalString(siteInfo, 'installation_date')) : null,
  };
}

/**
 * live_status (+ the site's product entry and site_info, when we have them) → DeviceState.
 * Tesla already uses the schema's signs: battery_power > 0 discharging, grid_power > 0
 * importing. charge = percentage_charged × total_pack_energy / 100 (the percentage is the
 * fresher, finer reading; energy_left is the fallback).
 */
export function normalizeTeslaLiveStatus(input: {
  connection: Connection;
  site: TeslaSite;
  liveStatus: JsonObject;
  siteInfo: JsonObject | null;
  polledAt: number;
  idleThresholdW: number;
}): DeviceState {
  const { liveStatus: live, siteInfo, site } = input;
  const what = 'live_status';

  const percentage = requiredNumber(live, 'percentage_charged', what);
  const batteryPower = requiredNumber(live, 'battery_power', what);
  const energyLeft = optionalNumber(live, 'energy_left', what);
  const livePack = optionalNumber(live, 'total_pack_energy', what);
  const gridPower = optionalNumber(live, 'grid_power', what);

  assertRange(percentage, 0, 100, what, 'percentage_charged');
  assertRange(batteryPower, -MAX_POWER_W, MAX_POWER_W, what, 'battery_power');
  assertRange(gridPower, -MAX_POWER_W, MAX_POWER_W, what, 'grid_power');
  assertRange(livePack, MIN_PACK_WH, MAX_PACK_WH, what, 'total_pack_energy');
  assertRange(energyLeft, 0, MAX_PACK_WH, what, 'energy_left');
  if (energyLeft !== null && livePack !== null) {
    const impliedPercent = (energyLeft / livePack) * 100;
    if (Math.abs(impliedPercent - percentage) > MAX_PERCENT_MISMATCH) {
      throw new NormalizationError('implausible_value', 'energy_left disagrees with percentage', {
        what,
        field: 'percentage_charged',
      });
    }
  }

  const pack = livePack ?? site.totalPackEnergyWh;
  const charge = pack !== null ? (percentage * pack) / 100 : energyLeft;
  const backupReserve = siteInfo ? readBackupReserve(siteInfo) : null;
  const userSettings = siteInfo ? optionalObject(siteInfo, 'user_settings') : null;
  const stormEnabled = userSettings ? optionalBoolean(userSettings, 'storm_mode_enabled') : null;

  return buildDeviceState(
    input.connection,
    teslaIdentity(site.energySiteId, siteInfo),
    'ONLINE',
    input.polledAt,
    {
      charge,
      chargePercentage: percentage,
      chargingState: chargingStateOf(batteryPower, input.idleThresholdW),
      whConsumed: null,
      chargeRate: batteryPower,
      backupReserve,
      gridStatus: teslaGridStatus(live, gridPower, input.idleThresholdW),
      gridPower,
      gridEnergy: null,
      isStormModeEnabled: stormEnabled ?? site.stormModeEnabled,
      isStormModeActive: optionalBoolean(live, 'storm_mode_active'),
      createdAt: parseTimestampMs(optionalString(live, 'timestamp')),
    },
  );
}

/**
 * A reserve sent as a 0..1 fraction still lies within 0..100, so the range alone cannot tell.
 * Tesla sets reserves in whole percents and states the site's nameplate energy in Wh beside
 * it: a fractional reserve, or a nameplate too small to be Wh, means another unit.
 */
function readBackupReserve(siteInfo: JsonObject): number | null {
  const what = 'site_info';
  const nameplate = optionalNumber(siteInfo, 'nameplate_energy', what);
  assertRange(nameplate, MIN_PACK_WH, MAX_PACK_WH, what, 'nameplate_energy');
  const reserve = optionalNumber(siteInfo, 'backup_reserve_percent', what);
  assertRange(reserve, 0, 100, what, 'backup_reserve_percent');
  if (reserve !== null && !Number.isInteger(reserve)) {
    throw new NormalizationError('implausible_value', 'backup reserve is not a whole percent', {
      what,
      field: 'backup_reserve_percent',
    });
  }
  return reserve;
}

/** "Inactive" grid or an off-grid island status means the site runs islanded. */
function teslaGridStatus(live: JsonObject, gridPower: number | null, idleThresholdW: number) {
  const grid = optionalString(live, 'grid_status');
  const island = optionalString(live, 'island_status') ?? '';
  if (grid === 'Inactive' || island.startsWith('off_grid')) return 'offline';
  return gridStatusOf(gridPower, idleThresholdW);
}

function isBatterySite(entry: unknown): entry is JsonObject {
  return (
    isObject(entry) &&
    entry.energy_site_id !== undefined &&
    entry.energy_site_id !== null &&
    entry.resource_type === 'battery'
  );
}
