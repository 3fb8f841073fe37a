import { createHmac, randomBytes } from 'node:crypto';
import { DispatcherErrorCode, dispatcherError } from './errors';

const SECRET_PREFIX = 'whsec_';
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/** A new signing secret: 'whsec_' + base64 of `sizeBytes` random bytes (24 to 64). */
export function generateSigningSecret(sizeBytes = 32): string {
  if (sizeBytes < MIN_SECRET_BYTES || sizeBytes > MAX_SECRET_BYTES) {
    throw dispatcherError(DispatcherErrorCode.secretInvalid, 'secret size out of range', {
      context: { sizeBytes },
    });
  }
  return SECRET_PREFIX + randomBytes(sizeBytes).toString('base64');
}

/** The HMAC key of a 'whsec_' secret: its base64 part, decoded. */
export function decodeSigningSecret(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length < MIN_SECRET_BYTES) {
    throw dispatcherError(DispatcherErrorCode.secretInvalid, 'signing secret is not whsec_ base64');
  }
  return key;
}

/**
 * Standard Webhooks `webhook-signature`: 'v1,' + base64 HMAC-SHA256 of `id.timestamp.body`, one
 * per key, space-separated (receivers accept if any matches, which is what makes rotation work).
 */
export function signWebhook(
  keys: readonly Buffer[],
  webhookId: string,
  timestampSec: number,
  body: string,
): string {
  const signed = `${webhookId}.${timestampSec}.${body}`;
  return keys
    .map((key) => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`)
    .join(' ');
}
