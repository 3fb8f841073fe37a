import { z } from 'zod';
import {
  decryptCredentials,
  encryptCredentials,
  PLAIN_FORMAT,
  type CredentialsKey,
} from '../common/credentials-crypto';
import type { Customer, Site } from '../common/device-state';
import { GridpulseError } from '../common/errors';
import { PollerErrorCode } from './errors';

/** Every secret of one OEM account, kept together so it is encrypted as one field. */
export interface Credentials {
  clientId?: string;
  clientSecret?: string;
  apiKey?: string;
  accessToken?: string;
  /** Epoch ms. */
  accessTokenExpiresAt?: number;
  refreshToken?: string;
}

/** One OEM account, as the poller works with it (credentials decoded). */
export interface Connection {
  connectionId: string;
  oem: string;
  enabled: boolean;
  credentials: Credentials;
  workspaceId: string;
  organizationId: string;
  customer: Customer;
  site: Site;
  createdAt: number;
  updatedAt: number;
}

/** The record on connections.v1 (schemas/connection.avsc). */
export interface ConnectionRecord extends Omit<Connection, 'credentials'> {
  credentialsFormat: string;
  credentials: Buffer;
}

export const CONNECTION_SCHEMA = 'connection';

/**
 * The record for `connection`: credentials encrypted with `key` when one is given (the poller
 * and the admin API configure CREDENTIALS_ENCRYPTION_KEY), in the clear ('json') otherwise.
 */
export function toConnectionRecord(connection: Connection, key?: CredentialsKey): ConnectionRecord {
  const plaintext = Buffer.from(JSON.stringify(connection.credentials), 'utf8');
  if (!key) return { ...connection, credentialsFormat: PLAIN_FORMAT, credentials: plaintext };
  return { ...connection, ...encryptCredentials(plaintext, connection.connectionId, key) };
}

/**
 * Decodes (and, for 'aes-256-gcm:<keyId>', decrypts with `key`) the credentials field. A record
 * this build or key cannot read is refused: GP_CREDENTIALS_UNDECRYPTABLE (see
 * services/common/credentials-crypto.ts) or GP_POLLER_CONNECTION_INVALID.
 */
export function fromConnectionRecord(record: ConnectionRecord, key?: CredentialsKey): Connection {
  const plaintext = decryptCredentials(
    record.credentialsFormat,
    record.credentials,
    record.connectionId,
    key,
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext.toString('utf8'));
  } catch (err) {
    throw new GridpulseError(PollerErrorCode.connectionInvalid, 'credentials are not JSON', {
      cause: err,
      context: { connectionId: record.connectionId },
    });
  }
  const credentials = credentialsSchema.safeParse(parsed);
  if (!credentials.success) {
    throw new GridpulseError(PollerErrorCode.connectionInvalid, 'credentials malformed', {
      context: { connectionId: record.connectionId },
    });
  }
  const { credentialsFormat: _format, ...rest } = record;
  return { ...rest, credentials: credentials.data };
}

/** A copy safe to print or log: which secrets are set, never their values. */
export function describeConnection(connection: Connection) {
  const { credentials, ...rest } = connection;
  const present = Object.entries(credentials)
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([key]) => key)
    .filter((key) => key !== 'accessTokenExpiresAt');
  return {
    ...rest,
    credentialsSet: present,
    accessTokenExpiresAt: credentials.accessTokenExpiresAt ?? null,
  };
}

export function emptyCustomer(id: string): Customer {
  return { id, referenceId: null, email: null, firstName: null, lastName: null, phone: null };
}

export function emptySite(id: string): Site {
  return { id, name: null, address: null, longitude: null, latitude: null };
}

const credentialsSchema = z.object({
  clientId: z.string().optional(),
  clientSecret: z.string().optional(),
  apiKey: z.string().optional(),
  accessToken: z.string().optional(),
  accessTokenExpiresAt: z.number().optional(),
  refreshToken: z.string().optional(),
});
