import { GridpulseError, isGridpulseError } from '../common/errors';

/** Codes the poller raises; each one is listed in docs/errors.md under "poller". */
export const PollerErrorCode = {
  /** The OEM answered with a status the adapter does not treat as data. */
  oemHttpError: 'GP_OEM_HTTP_ERROR',
  /** No answer within the client timeout, or the connection failed. */
  oemUnreachable: 'GP_OEM_UNREACHABLE',
  /** 429 still after the retries, or a Retry-After longer than we are willing to wait. */
  oemRateLimited: 'GP_OEM_RATE_LIMITED',
  /** The OEM's circuit is open: calls fail fast until the half-open probe succeeds. */
  circuitOpen: 'GP_OEM_CIRCUIT_OPEN',
  /** The token endpoint refused the refresh token (revoked, reused, or wrong client). */
  authRejected: 'GP_OEM_AUTH_REJECTED',
  /** The connection has no usable credentials for its OEM. */
  credentialsMissing: 'GP_POLLER_CREDENTIALS_MISSING',
  /** A rotated refresh token could not be written to connections.v1. */
  tokenPersistFailed: 'GP_POLLER_TOKEN_PERSIST_FAILED',
  /** An OEM response could not be turned into a DeviceState. */
  normalizationFailed: 'GP_POLLER_NORMALIZATION_FAILED',
  /** A connections.v1 record is not a valid connection. */
  connectionInvalid: 'GP_POLLER_CONNECTION_INVALID',
  /** connections.v1 and commands.v1 have different partition counts: commands would stray. */
  partitionMismatch: 'GP_POLLER_PARTITION_MISMATCH',
  /**
   * The poller is stopping: a request that had not been sent yet (waiting for the rate limit,
   * a concurrency slot, a backoff or a Retry-After) was abandoned. Not an OEM failure.
   */
  stopping: 'GP_POLLER_STOPPING',
} as const;

export type PollerErrorCodeValue = (typeof PollerErrorCode)[keyof typeof PollerErrorCode];

/** The rejection of work the poller abandoned before sending it, because it is stopping. */
export function abandonedError(): GridpulseError {
  return new GridpulseError(PollerErrorCode.stopping, 'abandoned: poller stopping', {
    retriable: true,
  });
}

/** True for work abandoned by a stop: the cycle ends without counting a failure. */
export function isAbandoned(err: unknown): boolean {
  return isGridpulseError(err, PollerErrorCode.stopping);
}

/** Why a response could not be normalized; a bounded metric label. */
export type NormalizationReason = 'malformed_json' | 'missing_field' | 'implausible_value';

export class NormalizationError extends GridpulseError {
  readonly reason: NormalizationReason;

  constructor(reason: NormalizationReason, message: string, context: Record<string, unknown> = {}) {
    super(PollerErrorCode.normalizationFailed, message, { context: { reason, ...context } });
    this.reason = reason;
  }
}
