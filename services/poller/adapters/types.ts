import type { DeviceState } from '../../common/device-state';
import type { Logger } from '../../common/logger';
import type { Connection } from '../connection';
import type { DeviceIdentity } from '../device-state';
import type { PollerMetrics } from '../metrics';

/** What one poll of one connection found. */
export interface AdapterCycle {
  /** Every device in the OEM's listing this cycle, with its identity (for REMOVED records). */
  listed: Map<string, DeviceIdentity>;
  records: DeviceState[];
  /** Devices in the listing that produced no record (call failed, response unusable). */
  failedDevices: number;
}

export interface AdapterContext {
  connection: Connection;
  polledAt: () => number;
  /** Already bound to oem and connectionId: call sites add neither. */
  logger: Logger;
  metrics: PollerMetrics;
  /** Aborts when the poller stops: requests not sent yet reject with GP_POLLER_STOPPING. */
  signal: AbortSignal;
}

/**
 * One per OEM. `poll` throws when the listing itself cannot be had, and when the stop
 * abandoned any of its requests (GP_POLLER_STOPPING: the cycle yields nothing); any other
 * failure of one device is counted in `failedDevices` and the other devices go on.
 */
export interface OemAdapter {
  poll(context: AdapterContext): Promise<AdapterCycle>;
}
