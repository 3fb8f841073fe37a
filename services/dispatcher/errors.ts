import { GridpulseError } from '../common/errors';

/** Codes raised by the dispatcher; each is described in docs/errors.md under "dispatcher". */
export const DispatcherErrorCode = {
  urlInvalid: 'GP_DISPATCH_URL_INVALID',
  urlRefused: 'GP_DISPATCH_URL_REFUSED',
  addressRefused: 'GP_DISPATCH_ADDRESS_REFUSED',
  destinationInvalid: 'GP_DISPATCH_DESTINATION_INVALID',
  destinationNotFound: 'GP_DISPATCH_DESTINATION_NOT_FOUND',
  destinationDisabled: 'GP_DISPATCH_DESTINATION_DISABLED',
  secretInvalid: 'GP_DISPATCH_SECRET_INVALID',
  destinationsUnavailable: 'GP_DISPATCH_DESTINATIONS_UNAVAILABLE',
  handOffFailed: 'GP_DISPATCH_HANDOFF_FAILED',
} as const;

export type DispatcherErrorCode = (typeof DispatcherErrorCode)[keyof typeof DispatcherErrorCode];

export function dispatcherError(
  code: DispatcherErrorCode,
  message: string,
  options: { retriable?: boolean; cause?: unknown; context?: Record<string, unknown> } = {},
): GridpulseError {
  return new GridpulseError(code, message, options);
}
