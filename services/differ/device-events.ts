import { createHash } from 'node:crypto';
import type { BatteryState } from '../common/device-state';
import { createEventRecord, type EventRecord } from '../common/events';
import type { DeviceSample } from './device-state';

export type DeviceEventType = 'device.discovered' | 'device.updated' | 'device.disconnected';

/**
 * Builds one device event in the seed catalogue's shape (data members in the catalogue's
 * order). `createdAtFallback` is when the differ first saw the device, used when the OEM gives
 * no creation time. The event timestamp is the poll time, so reprocessing the same sample
 * yields a byte-identical record with the same key.
 */
export function buildDeviceEvent(
  type: DeviceEventType,
  sample: DeviceSample,
  createdAtFallback: number,
): EventRecord {
  const data: Record<string, unknown> = buildDeviceData(sample, createdAtFallback);
  if (type === 'device.updated') data.state = buildStateData(sample);

  return createEventRecord(type, data, {
    timestamp: sample.polledAt,
    workspaceId: sample.workspaceId,
    deviceId: sample.deviceId,
    deviceType: sample.deviceType,
  });
}

/** The fields every device event shares: the device, its owner and its site. */
export function buildDeviceData(sample: DeviceSample, createdAtFallback: number) {
  const { customer, site } = sample;
  return {
    deviceId: sample.deviceId,
    workspaceId: sample.workspaceId,
    organizationId: sample.organizationId,
    updatedAt: toIso(sample.polledAt),
    createdAt: toIso(sample.createdAt ?? createdAtFallback),
    manufacturer: { slug: sample.manufacturer.slug, displayName: sample.manufacturer.displayName },
    deviceModel: { slug: sample.deviceModel.slug, displayName: sample.deviceModel.displayName },
    deviceType: sample.deviceType,
    tags: [...sample.tags],
    customer: {
      id: customer.id,
      referenceId: customer.referenceId,
      email: customer.email,
      firstName: customer.firstName,
      lastName: customer.lastName,
      phone: customer.phone,
    },
    site: {
      id: site.id,
      name: site.name,
      address: site.address
        ? {
            streetAddress1: site.address.streetAddress1,
            streetAddress2: site.address.streetAddress2,
            city: site.address.city,
            state: site.address.state,
            postalCode: site.address.postalCode,
            country: site.address.country,
          }
        : null,
      longitude: site.longitude,
      latitude: site.latitude,
    },
  };
}

/**
 * `state` of device.updated. Its id names this state instance: the same reading always gets the
 * same id. When the OEM does not timestamp readings, the poll time stands in.
 */
export function buildStateData(sample: DeviceSample): Record<string, unknown> | null {
  const state: BatteryState | null = sample.state;
  if (!state) return null;
  const createdAt = state.createdAt ?? sample.polledAt;
  return {
    id: computeStateId(sample.deviceId, createdAt),
    charge: state.charge,
    chargePercentage: state.chargePercentage,
    chargingState: state.chargingState,
    whConsumed: state.whConsumed,
    chargeRate: state.chargeRate,
    backupReserve: state.backupReserve,
    gridStatus: state.gridStatus,
    gridPower: state.gridPower,
    gridEnergy: state.gridEnergy,
    isStormModeEnabled: state.isStormModeEnabled,
    isStormModeActive: state.isStormModeActive,
    createdAt: toIso(createdAt),
  };
}

/** 25 lowercase hex characters (the length of the seed's cuid-style ids) of a SHA-256. */
export function computeStateId(deviceId: string, stateCreatedAt: number): string {
  return createHash('sha256').update(`${deviceId}\n${stateCreatedAt}`).digest('hex').slice(0, 25);
}

function toIso(ms: number): string {
  return new Date(ms).toISOString();
}
