/**
 * The differ's typed view of schemas/device-snapshot.avsc (its own changelog), and its name for
 * a device-state.v1 record (typed in services/common/device-state.ts). Times are epoch ms.
 */
import type { BatteryState, DeviceState } from '../common/device-state';

/** One device-state.v1 record as the rules see it: times normalised by toDeviceSample. */
export type DeviceSample = DeviceState;

export interface DeviceSnapshot {
  deviceId: string;
  status: 'ONLINE' | 'DISCONNECTED';
  offlinePolls: number;
  firstSeenAt: number;
  lastPolledAt: number;
  lastStateAt: number;
  descriptorHash: string;
  reported: BatteryState | null;
}

/**
 * Avro decoding may hand timestamp-millis back as Date depending on the reader's logical-type
 * settings; the rules work on numbers only, so normalise at the boundary.
 */
export function toDeviceSample(raw: unknown): DeviceSample {
  const sample = raw as DeviceSample;
  return {
    ...sample,
    createdAt: toMillis(sample.createdAt),
    polledAt: toMillis(sample.polledAt) ?? 0,
    state: sample.state ? { ...sample.state, createdAt: toMillis(sample.state.createdAt) } : null,
  };
}

export function toDeviceSnapshot(raw: unknown): DeviceSnapshot {
  const snapshot = raw as DeviceSnapshot;
  return {
    ...snapshot,
    firstSeenAt: toMillis(snapshot.firstSeenAt) ?? 0,
    lastPolledAt: toMillis(snapshot.lastPolledAt) ?? 0,
    lastStateAt: toMillis(snapshot.lastStateAt) ?? 0,
    reported: snapshot.reported
      ? { ...snapshot.reported, createdAt: toMillis(snapshot.reported.createdAt) }
      : null,
  };
}

function toMillis(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.getTime();
  return Number(value);
}
