import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AdminErrorCode, adminError } from './errors';

/**
 * Connection credentials at rest in connections.v1: AES-256-GCM over the UTF-8 JSON the
 * poller's `credentials` field holds in its 'json' format.
 *
 * Stored as `credentialsFormat = 'aes-256-gcm:<keyId>'` and
 * `credentials = iv (12 bytes) || ciphertext || auth tag (16 bytes)`, with the connection id as
 * additional authenticated data, so a ciphertext copied onto another connection does not
 * decrypt. A reader holding the key (CREDENTIALS_ENCRYPTION_KEY) decrypts with
 * `decryptCredentials` and then parses the JSON exactly as the 'json' format.
 */
export const ENCRYPTED_FORMAT_PREFIX = 'aes-256-gcm:';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CredentialsKey {
  id: string;
  key: Buffer;
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

/** The plaintext of `credentials` in `format`; 'json' passes through unchanged. */
export function decryptCredentials(
  format: string,
  credentials: Buffer,
  connectionId: string,
  credentialsKey: CredentialsKey,
): Buffer {
  if (format === 'json') return credentials;

  const keyId = format.startsWith(ENCRYPTED_FORMAT_PREFIX)
    ? format.slice(ENCRYPTED_FORMAT_PREFIX.length)
    : null;
  if (keyId !== credentialsKey.id || credentials.length < IV_BYTES + TAG_BYTES) {
    throw undecryptable(connectionId, format);
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
    throw undecryptable(connectionId, format, err);
  }
}

function undecryptable(connectionId: string, format: string, cause?: unknown) {
  return adminError(AdminErrorCode.credentialsUndecryptable, 'credentials not decryptable', {
    cause,
    context: { connectionId, format },
  });
}
