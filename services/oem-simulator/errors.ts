import { GridpulseError } from '../common/errors';

/** Codes raised by the OEM simulator; each is listed in docs/errors.md. */
export const SimulatorErrorCode = {
  optionsInvalid: 'GP_SIM_OPTIONS_INVALID',
  faultConfigInvalid: 'GP_SIM_FAULT_CONFIG_INVALID',
} as const;

export function createSimulatorError(
  code: (typeof SimulatorErrorCode)[keyof typeof SimulatorErrorCode],
  message: string,
  context: Record<string, unknown> = {},
): GridpulseError {
  return new GridpulseError(code, message, { retriable: false, context });
}
