import type { DeviceSample } from '../../services/differ/device-state';
import { MINUTE, T0, makeOffline, makeSample, makeState } from './samples';

/**
 * A deterministic fleet history: `devices` devices, `polls` polls each, interleaved poll by poll
 * as the poller emits them. Charge moves in steps that sometimes cross the deadband, some polls
 * repeat (OEM cache), and every seventh device goes offline for good half-way through.
 */
export function makeFleetHistory(devices: number, polls: number, firstPoll = 0): DeviceSample[] {
  const samples: DeviceSample[] = [];
  for (let poll = firstPoll; poll < firstPoll + polls; poll += 1) {
    for (let device = 0; device < devices; device += 1) {
      const deviceId = `tesla:fleet-${device}`;
      const polledAt = T0 + poll * 5 * MINUTE;
      if (device % 7 === 0 && poll >= firstPoll + polls / 2) {
        samples.push(makeOffline(polledAt, 'OFFLINE', deviceId));
        continue;
      }
      // Every fourth poll the OEM serves its cached reading again.
      const readingPoll = poll % 4 === 3 ? poll - 1 : poll;
      const chargePercentage = 40 + ((device * 3 + readingPoll * 7) % 11) * 0.4;
      const state = makeState(T0 + readingPoll * 5 * MINUTE - 1000, { chargePercentage });
      samples.push(makeSample(polledAt, { state }, deviceId));
    }
  }
  return samples;
}
