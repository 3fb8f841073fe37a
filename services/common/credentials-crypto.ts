import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GridpulseError } from './errors';

/**
 * Connection credentials at rest in connections.v1, shared by the admin API (which writes
 * them) and the poller (which reads them and writes rotated tokens back): AES-256-GCM over the
 * UTF-8 JSON that the 'json' format stores in the clear.
 *
 * Stored as `credentialsFormat = 'aes-256-gcm:<keyId>'` and
 * `credentials = iv (12 bytes) || ciphertext || auth tag (16 bytes)`, with the connection id as
 * additional authenticated data, so a ciphertext copied onto another connection does not
 * decrypt. The key id names the key in the record, so a later key rotation can tell records
 * apart.
 */
export const ENCRYPTED_FORMAT_PREFIX = 'aes-256-gcm:';
export const PLAIN_FORMAT = 'json';

export const CredentialsErrorCode = {
  /** The credentials cannot be read with the configured key (see `context.reason`). */
  undecryptable: 'GP_CREDENTIALS_UNDECRYPTABLE',
} as const;

/** Why a record could not be decrypted; a bounded metric label. */
export type UndecryptableReason =
  'no_key' | 'key_id_mismatch' | 'unknown_format' | 'truncated' | 'authentication_failed';

export interface CredentialsKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export function isEncryptedFormat(format: string): boolean {
  return format.startsWith(ENCRYPTED_FORMAT_PREFIX);
}

export function encryptCredentials(
  plaintext: Buffer,
  connectionId: string,
  credentialsKey: CredentialsKey,
): { credentialsFormat: string; credentials: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', credentialsKey.key, iv, {
    authTagLength: TAG_BYTES,
  });
  cipher.setAAD(Buffer.from(connectionId, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    credentialsFormat: `${ENCRYPTED_FORMAT_PREFIX}${credentialsKey.id}`,
    credentials: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
  };
}

/**
 * The plaintext of `credentials` stored in `format`: 'json' passes through unchanged; an
 * encrypted record needs the key it names. Throws GP_CREDENTIALS_UNDECRYPTABLE with
 * `context.reason` otherwise (never the key or any byte of the credentials).
 */
export function decryptCredentials(
  format: string,
  credentials: Buffer,
  connectionId: string,
  credentialsKey: CredentialsKey | undefined,
): Buffer {
  if (format === PLAIN_FORMAT) return credentials;
  if (!isEncryptedFormat(format)) throw undecryptable(connectionId, format, 'unknown_format');
  if (!credentialsKey) throw undecryptable(connectionId, format, 'no_key');

  const keyId = format.slice(ENCRYPTED_FORMAT_PREFIX.length);
  if (keyId !== credentialsKey.id) throw undecryptable(connectionId, format, 'key_id_mismatch');
  if (credentials.length < IV_BYTES + TAG_BYTES) {
    throw undecryptable(connectionId, format, 'truncated');
  }

  const iv = credentials.subarray(0, IV_BYTES);
  const tag = credentials.subarray(credentials.length - TAG_BYTES);
  const ciphertext = credentials.subarray(IV_BYTES, credentials.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', credentialsKey.key, iv, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(Buffer.from(connectionId, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (err) {
    // A wrong key and a tampered record look the same to GCM: the tag does not verify.
    throw undecryptable(connectionId, format, 'authentication_failed', err);
  }
}

/** 32 bytes given as 64 hex characters or base64; null when the text is neither. */
export function parseCredentialsKey(text: string): Buffer | null {
  const key = /^[0-9a-fA-F]{64}$/.test(text)
    ? Buffer.from(text, 'hex')
    : Buffer.from(text, 'base64');
  return key.length === KEY_BYTES ? key : null;
}

function undecryptable(
  connectionId: string,
  format: string,
  reason: UndecryptableReason,
  cause?: unknown,
): GridpulseError {
  return new GridpulseError(CredentialsErrorCode.undecryptable, 'credentials not decryptable', {
    cause,
    context: { connectionId, format, reason },
  });
}
