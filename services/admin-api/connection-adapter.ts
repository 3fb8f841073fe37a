import {
  CONNECTION_SCHEMA,
  describeConnection,
  fromConnectionRecord,
  toConnectionRecord,
  type Connection,
  type ConnectionRecord,
} from '../poller/connection';
import { decryptCredentials, encryptCredentials, type CredentialsKey } from './credentials-crypto';
import type { PendingRecord } from './transactional-writer';

/**
 * The poller's connection module (services/poller/connection.ts) writes credentials as plain
 * JSON ('json' format) and has no encryption hook, so the API goes through this adapter: it
 * builds records with the poller's own `toConnectionRecord` and then replaces the credentials
 * field with its AES-256-GCM encryption (credentials-crypto.ts), and reads them back the other
 * way round before handing them to `fromConnectionRecord`.
 *
 * Limitation: until the poller decrypts (see credentials-crypto.ts for the exact format), a
 * poller refuses connections written here ('unknown credentials format'); and the poller
 * writes rotated tokens back in the 'json' format, in the clear.
 */
export function encryptedConnectionRecord(
  connection: Connection,
  key: CredentialsKey,
): ConnectionRecord {
  const plain = toConnectionRecord(connection);
  return { ...plain, ...encryptCredentials(plain.credentials, connection.connectionId, key) };
}

/** The connection with its credentials decoded, whichever format it was stored in. */
export function readConnectionRecord(record: ConnectionRecord, key: CredentialsKey): Connection {
  const plaintext = decryptCredentials(
    record.credentialsFormat,
    record.credentials,
    record.connectionId,
    key,
  );
  return fromConnectionRecord({ ...record, credentialsFormat: 'json', credentials: plaintext });
}

export function connectionWrite(record: ConnectionRecord, topic: string): PendingRecord {
  return { topic, schema: CONNECTION_SCHEMA, key: record.connectionId, value: record };
}

/**
 * What the API shows of a connection: the poller's describeConnection (names of the secrets
 * set, never their values), with each member listed explicitly so nothing else slips out.
 */
export function renderConnection(connection: Connection) {
  const safe = describeConnection(connection);
  return {
    id: safe.connectionId,
    oem: safe.oem,
    enabled: safe.enabled,
    organizationId: safe.organizationId,
    customer: safe.customer,
    site: safe.site,
    credentialsSet: safe.credentialsSet,
    createdAt: new Date(safe.createdAt).toISOString(),
    updatedAt: new Date(safe.updatedAt).toISOString(),
  };
}
