/**
 * The differ's typed view of schemas/device-state.avsc (the poller's output) and of
 * schemas/device-snapshot.avsc (its own changelog). Times are epoch milliseconds.
 */
export type Connectivity = 'ONLINE' | 'OFFLINE' | 'REMOVED';

export interface BatteryState {
  charge: number | null;
  chargePercentage: number | null;
  chargingState: string | null;
  whConsumed: number | null;
  chargeRate: number | null;
  backupReserve: number | null;
  gridStatus: string | null;
  gridPower: number | null;
  gridEnergy: number | null;
  isStormModeEnabled: boolean | null;
  isStormModeActive: boolean | null;
  createdAt: number | null;
}

export interface DeviceSample {
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
  customer: {
    id: string;
    referenceId: string | null;
    email: string | null;
    firstName: string | null;
    lastName: string | null;
    phone: string | null;
  };
  site: {
    id: string;
    name: string | null;
    address: {
      streetAddress1: string | null;
      streetAddress2: string | null;
      city: string | null;
      state: string | null;
      postalCode: string | null;
      country: string | null;
    } | null;
    longitude: number | null;
    latitude: number | null;
  };
  connectivity: Connectivity;
  polledAt: number;
  state: BatteryState | null;
}

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
