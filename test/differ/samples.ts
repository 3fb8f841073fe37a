import type { DeviceSample } from '../../services/differ/device-state';
import { makeDeviceState } from '../support/device-state';

// The differ's names for the shared builders: a device-state.v1 record is a sample to the differ.
export {
  makeBatteryState as makeState,
  makeDeviceState as makeSample,
} from '../support/device-state';

/** Epoch ms of the first poll in every fixture: 2024-08-22T15:54:52.013Z, the seed's timestamp. */
export const T0 = Date.parse('2024-08-22T15:54:52.013Z');
export const MINUTE = 60_000;

/** A poll in which the OEM said the device is not reporting (or is gone). */
export function makeOffline(
  polledAt: number,
  connectivity: 'OFFLINE' | 'REMOVED' = 'OFFLINE',
  deviceId = 'tesla:1689890',
): DeviceSample {
  return makeDeviceState(polledAt, { connectivity, state: null }, deviceId);
}
