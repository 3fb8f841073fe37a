import { z } from 'zod';
import {
  baseEnvSchema,
  booleanFlag,
  parseEnv,
  toConnectivityConfig,
  type ConnectivityConfig,
} from '../common/config';
import { parseCredentialsKey } from '../common/credentials-crypto';

export const ADMIN_API_DEFAULTS = Object.freeze({
  ADMIN_API_PORT: 8088,
  ADMIN_API_HOST: '0.0.0.0',
  METRICS_PORT: 9404,
  ADMIN_API_BODY_LIMIT_BYTES: 65_536,
  /** How far back device-state.v1 is read at start-up to learn each device's connection. */
  ADMIN_API_DEVICE_LOOKBACK_MINUTES: 60,
  /** How long a new destination secret overlaps the old one after a rotation. */
  ADMIN_API_SECRET_OVERLAP_HOURS: 24,
});

/** `workspaceId:sha256hex` pairs, comma separated: the hash of each API key and its scope. */
const apiKeys = z
  .string()
  .min(1, 'at least one workspaceId:sha256hex pair')
  .transform((value) =>
    value
      .split(',')
      .map((pair) => pair.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(
        z.string().regex(/^[A-Za-z0-9_.-]+:[0-9a-fA-F]{64}$/, 'expected workspaceId:sha256hex'),
      )
      .min(1),
  )
  .transform((pairs) =>
    pairs.map((pair) => {
      const [workspaceId, hash] = pair.split(':') as [string, string];
      return { workspaceId, sha256: hash.toLowerCase() };
    }),
  );

/** `workspaceId:organizationId` pairs: the organization a workspace's records default to. */
const organizations = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((pair) => pair.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+$/, 'expected ws:org')))
  .transform((pairs) => new Map(pairs.map((pair) => pair.split(':') as [string, string])));

/** 32 bytes, as 64 hex characters or base64. */
const encryptionKey = z
  .string()
  .transform((value) => parseCredentialsKey(value) ?? Buffer.alloc(0))
  .refine((key) => key.length === 32, 'expected 32 bytes (64 hex characters or base64)');

export const adminApiEnvSchema = baseEnvSchema.extend({
  ADMIN_API_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(ADMIN_API_DEFAULTS.ADMIN_API_PORT),
  ADMIN_API_HOST: z.string().default(ADMIN_API_DEFAULTS.ADMIN_API_HOST),
  ADMIN_API_KEYS: apiKeys,
  ADMIN_API_ORGANIZATIONS: organizations,
  ADMIN_API_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(ADMIN_API_DEFAULTS.ADMIN_API_BODY_LIMIT_BYTES),
  ADMIN_API_DEVICE_LOOKBACK_MINUTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(ADMIN_API_DEFAULTS.ADMIN_API_DEVICE_LOOKBACK_MINUTES),
  ADMIN_API_SECRET_OVERLAP_HOURS: z.coerce
    .number()
    .min(0)
    .default(ADMIN_API_DEFAULTS.ADMIN_API_SECRET_OVERLAP_HOURS),
  ADMIN_API_ALLOW_PRIVATE_URLS: booleanFlag(false),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(ADMIN_API_DEFAULTS.METRICS_PORT),
  CREDENTIALS_ENCRYPTION_KEY: encryptionKey,
  /** Names the key in stored records ('aes-256-gcm:<id>') so a later key rotation can tell them apart. */
  CREDENTIALS_ENCRYPTION_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/)
    .default('k1'),
});

export type AdminApiEnv = z.infer<typeof adminApiEnvSchema>;

export interface ApiKeyEntry {
  workspaceId: string;
  /** Lower-case hex SHA-256 of the key. */
  sha256: string;
}

export interface AdminApiConfig {
  connectivity: ConnectivityConfig;
  port: number;
  host: string;
  metricsPort: number;
  apiKeys: ApiKeyEntry[];
  organizations: ReadonlyMap<string, string>;
  bodyLimitBytes: number;
  deviceLookbackMs: number;
  secretOverlapMs: number;
  allowPrivateUrls: boolean;
  credentialsKey: { id: string; key: Buffer };
}

/** Parses the environment once at start-up (GP_CONFIG_INVALID names every bad key). */
export function loadAdminApiConfig(env: NodeJS.ProcessEnv = process.env): AdminApiConfig {
  return toAdminApiConfig(parseEnv(adminApiEnvSchema, env));
}

export function toAdminApiConfig(env: AdminApiEnv): AdminApiConfig {
  return {
    connectivity: toConnectivityConfig(env, 'admin-api'),
    port: env.ADMIN_API_PORT,
    host: env.ADMIN_API_HOST,
    metricsPort: env.METRICS_PORT,
    apiKeys: env.ADMIN_API_KEYS,
    organizations: env.ADMIN_API_ORGANIZATIONS,
    bodyLimitBytes: env.ADMIN_API_BODY_LIMIT_BYTES,
    deviceLookbackMs: env.ADMIN_API_DEVICE_LOOKBACK_MINUTES * 60_000,
    secretOverlapMs: env.ADMIN_API_SECRET_OVERLAP_HOURS * 3_600_000,
    allowPrivateUrls: env.ADMIN_API_ALLOW_PRIVATE_URLS,
    credentialsKey: { id: env.CREDENTIALS_ENCRYPTION_KEY_ID, key: env.CREDENTIALS_ENCRYPTION_KEY },
  };
}
