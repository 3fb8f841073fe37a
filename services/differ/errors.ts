import { GridpulseError } from '../common/errors';

/** Codes raised by the differ; each is listed under `## differ` in docs/errors.md. */
export const DifferErrorCode = {
  restoreTimeout: 'GP_DIFFER_RESTORE_TIMEOUT',
  partitionMismatch: 'GP_DIFFER_PARTITION_MISMATCH',
  transactionFailed: 'GP_DIFFER_TRANSACTION_FAILED',
} as const;

export type DifferErrorCode = (typeof DifferErrorCode)[keyof typeof DifferErrorCode];

export function createDifferError(
  code: DifferErrorCode,
  message: string,
  options: { retriable?: boolean; cause?: unknown; context?: Record<string, unknown> } = {},
): GridpulseError {
  return new GridpulseError(code, message, options);
}
