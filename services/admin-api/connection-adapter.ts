import type { CredentialsKey } from '../common/credentials-crypto';
import {
  CONNECTION_SCHEMA,
  describeConnection,
  fromConnectionRecord,
  toConnectionRecord,
  type Connection,
  type ConnectionRecord,
} from '../poller/connection';
import type { PendingRecord } from './transactional-writer';

/**
 * Connections as the API stores them: the poller's own record mapping
 * (services/poller/connection.ts), always with the credentials encrypted under the configured
 * key (services/common/credentials-crypto.ts), so the poller reads and rotates them in the
 * same format.
 */
export function encryptedConnectionRecord(
  connection: Connection,
  key: CredentialsKey,
): ConnectionRecord {
  return toConnectionRecord(connection, key);
}

/**
 * The connection with its credentials decoded, whichever format it was stored in; throws
 * GP_CREDENTIALS_UNDECRYPTABLE when `key` cannot open it.
 */
export function readConnectionRecord(record: ConnectionRecord, key: CredentialsKey): Connection {
  return fromConnectionRecord(record, key);
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
