import type { Address, BatteryState, DeviceState } from '../../services/common/device-state';

/** The seed's example site address (the Empire State Building). */
export const SAMPLE_ADDRESS: Address = Object.freeze({
  streetAddress1: '20 W 34th St',
  streetAddress2: null,
  city: 'New York',
  state: 'NY',
  postalCode: '10118',
  country: 'US',
});

/** A battery state like the seed's example, taken at `createdAt` (epoch ms). */
export function makeBatteryState(
  createdAt: number,
  overrides: Partial<BatteryState> = {},
): BatteryState {
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

/**
 * One ONLINE device-state.v1 record of a Tesla-style Powerwall, like the seed's example, polled
 * at `polledAt` (state taken 1 s before).
 */
export function makeDeviceState(
  polledAt: number,
  overrides: Partial<DeviceState> = {},
  deviceId = 'tesla:1689890',
): DeviceState {
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
      address: { ...SAMPLE_ADDRESS },
      longitude: -73.985428,
      latitude: 40.748817,
    },
    connectivity: 'ONLINE',
    polledAt,
    state: makeBatteryState(polledAt - 1000),
    ...overrides,
  };
}
