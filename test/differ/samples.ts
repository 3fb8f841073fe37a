import type { BatteryState } from '../../services/common/device-state';
import type { DeviceSample } from '../../services/differ/device-state';

/** Epoch ms of the first poll in every fixture: 2024-08-22T15:54:52.013Z, the seed's timestamp. */
export const T0 = Date.parse('2024-08-22T15:54:52.013Z');
export const MINUTE = 60_000;

/** A battery state like the seed's example, taken at `createdAt`. */
export function makeState(createdAt: number, overrides: Partial<BatteryState> = {}): BatteryState {
  return {
    charge: 18069.15789473684,
    chargePercentage: 59.30925587453832,
    chargingState: 'charging',
    whConsumed: 0,
    chargeRate: -2290,
    backupReserve: 30,
    gridStatus: 'idle',
    gridPower: 0,
    gridEnergy: 0,
    isStormModeEnabled: true,
    isStormModeActive: false,
    createdAt,
    ...overrides,
  };
}

/** One ONLINE poll of a Tesla-style Powerwall, polled at `polledAt` (state taken 1 s before). */
export function makeSample(
  polledAt: number,
  overrides: Partial<DeviceSample> = {},
  deviceId = 'tesla:1689890',
): DeviceSample {
  return {
    deviceId,
    connectionId: 'conn-1',
    oem: 'tesla',
    workspaceId: 'cllzcf9xe00066g7dcsxyq1e5',
    organizationId: 'cm6y391is00000cjlea9361ht',
    manufacturer: { slug: 'tesla', displayName: 'Tesla' },
    deviceModel: { slug: 'tesla:powerwall', displayName: 'Powerwall' },
    deviceType: 'battery',
    tags: ['battery', 'powerwall'],
    createdAt: null,
    customer: {
      id: 'cllzcbw0t00016g7dfua590dd',
      referenceId: null,
      email: 'bjones@texturehq.com',
      firstName: 'Bob',
      lastName: 'Jones',
      phone: '+15551234567',
    },
    site: {
      id: 'cllzcbw0t00016g7dfua590dd',
      name: 'Empire State Building',
      address: {
        streetAddress1: '20 W 34th St',
        streetAddress2: null,
        city: 'New York',
        state: 'NY',
        postalCode: '10118',
        country: 'US',
      },
      longitude: -73.985428,
      latitude: 40.748817,
    },
    connectivity: 'ONLINE',
    polledAt,
    state: makeState(polledAt - 1000),
    ...overrides,
  };
}

/** A poll in which the OEM said the device is not reporting (or is gone). */
export function makeOffline(
  polledAt: number,
  connectivity: 'OFFLINE' | 'REMOVED' = 'OFFLINE',
  deviceId = 'tesla:1689890',
): DeviceSample {
  return makeSample(polledAt, { connectivity, state: null }, deviceId);
}
