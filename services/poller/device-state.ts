import type { Connection, Customer, Site } from './connection';

/** The record on device-state.v1 (schemas/device-state.avsc); read its docs for units/signs. */
export interface DeviceState {
  deviceId: string;
  connectionId: string;
  oem: string;
  workspaceId: string;
  organizationId: string;
  manufacturer: { slug: string; displayName: string };
  deviceModel: { slug: string; displayName: string };
  deviceType: string;
  tags: string[];
  createdAt: number | null;
  customer: Customer;
  site: Site;
  connectivity: Connectivity;
  polledAt: number;
  state: BatteryState | null;
}

export type Connectivity = 'ONLINE' | 'OFFLINE' | 'REMOVED';

export interface BatteryState {
  charge: number | null;
  chargePercentage: number | null;
  chargingState: 'charging' | 'discharging' | 'idle' | null;
  whConsumed: number | null;
  chargeRate: number | null;
  backupReserve: number | null;
  gridStatus: 'importing' | 'exporting' | 'idle' | 'offline' | null;
  gridPower: number | null;
  gridEnergy: number | null;
  isStormModeEnabled: boolean | null;
  isStormModeActive: boolean | null;
  createdAt: number | null;
}

export const DEVICE_STATE_SCHEMA = 'device-state';

/** What every OEM adapter knows about a device besides its readings. */
export interface DeviceIdentity {
  deviceId: string;
  manufacturer: { slug: string; displayName: string };
  deviceModel: { slug: string; displayName: string };
  deviceType: string;
  tags: string[];
  createdAt: number | null;
}

/** The record shell shared by every connectivity; `state` is filled for ONLINE batteries. */
export function buildDeviceState(
  connection: Connection,
  identity: DeviceIdentity,
  connectivity: Connectivity,
  polledAt: number,
  state: BatteryState | null,
): DeviceState {
  return {
    ...identity,
    connectionId: connection.connectionId,
    oem: connection.oem,
    workspaceId: connection.workspaceId,
    organizationId: connection.organizationId,
    customer: connection.customer,
    site: connection.site,
    connectivity,
    polledAt,
    state: connectivity === 'ONLINE' ? state : null,
  };
}

/**
 * Battery power sign follows the schema (> 0 discharging); readings within the idle threshold
 * are sensor noise around zero, not a direction.
 */
export function chargingStateOf(
  chargeRateW: number | null,
  idleThresholdW: number,
): BatteryState['chargingState'] {
  if (chargeRateW === null) return null;
  if (chargeRateW > idleThresholdW) return 'discharging';
  if (chargeRateW < -idleThresholdW) return 'charging';
  return 'idle';
}

/** Grid power sign follows the schema (> 0 importing). */
export function gridStatusOf(
  gridPowerW: number | null,
  idleThresholdW: number,
): BatteryState['gridStatus'] {
  if (gridPowerW === null) return null;
  if (gridPowerW > idleThresholdW) return 'importing';
  if (gridPowerW < -idleThresholdW) return 'exporting';
  return 'idle';
}

export function identityOf(record: DeviceState): DeviceIdentity {
  const { deviceId, manufacturer, deviceModel, deviceType, tags, createdAt } = record;
  return { deviceId, manufacturer, deviceModel, deviceType, tags, createdAt };
}
