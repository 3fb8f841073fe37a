import { isGridpulseError } from '../../common/errors';
import { NormalizationError } from '../errors';
import type { AdapterContext } from './types';

/**
 * Counts and logs one device's failure: the device, the error's code and reason, never the
 * OEM payload or credentials (`context.logger` already carries oem and connectionId). The
 * cycle goes on with the other devices.
 */
export function recordDeviceFailure(context: AdapterContext, deviceId: string, err: unknown): void {
  const { connection, logger, metrics } = context;
  if (err instanceof NormalizationError) {
    metrics.normalizationFailures.inc({ oem: connection.oem, reason: err.reason });
    logger.warn({ deviceId, reason: err.reason, ...err.context }, 'response not normalizable');
    return;
  }
  const code = isGridpulseError(err) ? err.code : 'unknown';
  logger.warn({ deviceId, err, code }, 'device poll failed');
}
