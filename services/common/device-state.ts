/**
 * The typed view of schemas/device-state.avsc: the record the poller writes to device-state.v1
 * and the differ reads. Customer, Site and Address are also the parts of connections.v1
 * (schemas/connection.avsc, the same io.gridpulse.v1 records) and Address that of sites.v1.
 *
 * Units: energy in Wh, power in W, percentages 0-100, times in Unix epoch milliseconds (UTC).
 * A value the OEM did not send is null, never 0.
 */

/** Registered under this name (schemas/device-state.avsc). */
export const DEVICE_STATE_SCHEMA = 'device-state';

export interface DeviceState {
  /** Stable gridpulse device id: '<oem>:<the OEM's own device id>'. */
  deviceId: string;
  /** The connections.v1 key of the OEM account this device was polled through. */
  connectionId: string;
  /** OEM adapter slug, e.g. 'tesla' or 'enphase'. */
  oem: string;
  workspaceId: string;
  organizationId: string;
  manufacturer: Manufacturer;
  deviceModel: DeviceModel;
  /** battery, inverter, meter, charger, ... (lower case). */
  deviceType: string;
  tags: string[];
  /** When the device was created (installed or first registered) per the OEM; null when unsaid. */
  createdAt: number | null;
  customer: Customer;
  site: Site;
  connectivity: Connectivity;
  /** When gridpulse received the OEM's response (the seed's data.updatedAt). */
  polledAt: number;
  /** The battery's state; null when the device is offline, removed, or not a battery. */
  state: BatteryState | null;
}

/**
 * ONLINE: the OEM answered with this device's data. OFFLINE: the OEM says the device is not
 * reporting (e.g. Tesla 408, Enphase 'not reporting'). REMOVED: gone from the OEM's listing.
 */
export type Connectivity = 'ONLINE' | 'OFFLINE' | 'REMOVED';

export interface Manufacturer {
  slug: string;
  displayName: string;
}

export interface DeviceModel {
  /** '<manufacturer>:<model>', e.g. 'tesla:powerwall'. */
  slug: string;
  displayName: string;
}

export interface Customer {
  id: string;
  referenceId: string | null;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  phone: string | null;
}

export interface Site {
  id: string;
  name: string | null;
  address: Address | null;
  longitude: number | null;
  latitude: number | null;
}

export interface Address {
  streetAddress1: string | null;
  streetAddress2: string | null;
  city: string | null;
  state: string | null;
  postalCode: string | null;
  country: string | null;
}

/**
 * Signs: chargeRate > 0 while the battery discharges and < 0 while it charges (the seed pairs
 * chargingState 'charging' with a negative chargeRate); gridPower > 0 while importing.
 */
export interface BatteryState {
  /** Stored energy, Wh. */
  charge: number | null;
  /** State of charge, 0-100. */
  chargePercentage: number | null;
  /** A string in the schema; these are the values it documents. */
  chargingState: 'charging' | 'discharging' | 'idle' | null;
  /** Energy consumed by the site since local midnight, Wh. */
  whConsumed: number | null;
  /** Battery power, W: > 0 discharging, < 0 charging. */
  chargeRate: number | null;
  /** Reserve kept for outages, percent. */
  backupReserve: number | null;
  /** A string in the schema; 'offline' is islanded / grid down. */
  gridStatus: 'importing' | 'exporting' | 'idle' | 'offline' | null;
  /** W: > 0 importing, < 0 exporting. */
  gridPower: number | null;
  /** Net energy imported from the grid since local midnight, Wh (negative when net export). */
  gridEnergy: number | null;
  isStormModeEnabled: boolean | null;
  isStormModeActive: boolean | null;
  /** When the device measured this state, per the OEM; null when it does not timestamp readings. */
  createdAt: number | null;
}
