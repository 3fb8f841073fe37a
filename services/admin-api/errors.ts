import { GridpulseError } from '../common/errors';

/** Codes the admin API and the command executor raise; listed in docs/errors.md ("admin-api"). */
export const AdminErrorCode = {
  /** Missing or wrong API key. The response says nothing more. */
  unauthorized: 'GP_ADMIN_UNAUTHORIZED',
  /** The request failed validation (types, unknown fields, invalid JSON); `field` names it. */
  invalidRequest: 'GP_ADMIN_INVALID_REQUEST',
  /** The body is larger than ADMIN_API_BODY_LIMIT_BYTES. */
  bodyTooLarge: 'GP_ADMIN_BODY_TOO_LARGE',
  /** No such resource in the caller's workspace (another workspace's look the same). */
  notFound: 'GP_ADMIN_NOT_FOUND',
  /** The request refers to something in a state that does not allow it. */
  conflict: 'GP_ADMIN_CONFLICT',
  /** An Idempotency-Key already used with another request (path parameters or body). */
  idempotencyKeyReused: 'GP_ADMIN_IDEMPOTENCY_KEY_REUSED',
  /** The in-memory view has not caught up with the compacted topics yet. */
  notReady: 'GP_ADMIN_NOT_READY',
  /** A Kafka write (transaction) failed after its retries. */
  writeFailed: 'GP_ADMIN_WRITE_FAILED',
} as const;

export type AdminErrorCodeValue = (typeof AdminErrorCode)[keyof typeof AdminErrorCode];

/** HTTP status per code; anything unlisted is a 500. */
export const HTTP_STATUS_BY_CODE: Readonly<Record<string, number>> = Object.freeze({
  [AdminErrorCode.unauthorized]: 401,
  [AdminErrorCode.invalidRequest]: 400,
  [AdminErrorCode.bodyTooLarge]: 400,
  [AdminErrorCode.notFound]: 404,
  [AdminErrorCode.conflict]: 409,
  [AdminErrorCode.idempotencyKeyReused]: 422,
  [AdminErrorCode.notReady]: 503,
  [AdminErrorCode.writeFailed]: 503,
});

export function adminError(
  code: AdminErrorCodeValue,
  message: string,
  options: { retriable?: boolean; cause?: unknown; context?: Record<string, unknown> } = {},
): GridpulseError {
  return new GridpulseError(code, message, options);
}
