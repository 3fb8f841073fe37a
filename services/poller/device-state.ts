import type { BatteryState, Connectivity, DeviceState } from '../common/device-state';
import type { Connection } from './connection';

/** What every OEM adapter knows about a device besides its readings. */
export type DeviceIdentity = Pick<
  DeviceState,
  'deviceId' | 'manufacturer' | 'deviceModel' | 'deviceType' | 'tags' | 'createdAt'
>;

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
