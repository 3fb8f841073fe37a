import { z } from 'zod';
import {
  baseEnvSchema,
  parseEnv,
  toConnectivityConfig,
  type ConnectivityConfig,
} from '../common/config';
import { parseCredentialsKey, type CredentialsKey } from '../common/credentials-crypto';

/** The OEMs this poller has adapters for; connections name one of them. */
export const OEMS = ['tesla', 'enphase'] as const;
export type Oem = (typeof OEMS)[number];

export const POLLER_DEFAULTS = Object.freeze({
  METRICS_PORT: 9401,
  TESLA_API_URL: 'https://fleet-api.prd.na.vn.cloud.tesla.com',
  TESLA_AUTH_URL: 'https://fleet-auth.prd.vn.cloud.tesla.com',
  ENPHASE_API_URL: 'https://api.enphaseenergy.com',
  ENPHASE_AUTH_URL: 'https://api.enphaseenergy.com',
  POLL_INTERVAL_TESLA_SECONDS: 300,
  POLL_INTERVAL_ENPHASE_SECONDS: 900,
  CREDENTIALS_ENCRYPTION_KEY_ID: 'k1',
  COMMAND_MAX_AGE_SECONDS: 600,
  COMMAND_OWNERSHIP_WAIT_MS: 30_000,
});

/** 32 bytes, as 64 hex characters or base64 (the admin API's key). */
const encryptionKey = z
  .string()
  .transform((value) => parseCredentialsKey(value) ?? Buffer.alloc(0))
  .refine((key) => key.length === 32, 'expected 32 bytes (64 hex characters or base64)');

const seconds = (fallback: number) => z.coerce.number().int().min(1).default(fallback);
const positive = (fallback: number) => z.coerce.number().positive().default(fallback);

export const pollerEnvSchema = baseEnvSchema.extend({
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(POLLER_DEFAULTS.METRICS_PORT),
  TESLA_API_URL: z.url().default(POLLER_DEFAULTS.TESLA_API_URL),
  TESLA_AUTH_URL: z.url().default(POLLER_DEFAULTS.TESLA_AUTH_URL),
  ENPHASE_API_URL: z.url().default(POLLER_DEFAULTS.ENPHASE_API_URL),
  ENPHASE_AUTH_URL: z.url().default(POLLER_DEFAULTS.ENPHASE_AUTH_URL),
  POLL_INTERVAL_TESLA_SECONDS: seconds(POLLER_DEFAULTS.POLL_INTERVAL_TESLA_SECONDS),
  POLL_INTERVAL_ENPHASE_SECONDS: seconds(POLLER_DEFAULTS.POLL_INTERVAL_ENPHASE_SECONDS),
  /** Requests per second per OEM, across all its connections on this replica. */
  OEM_RATE_LIMIT_PER_SECOND: positive(20),
  /** Requests in flight per OEM on this replica. */
  OEM_CONCURRENCY: z.coerce.number().int().min(1).default(16),
  OEM_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  OEM_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(3),
  OEM_BACKOFF_BASE_MS: z.coerce.number().int().min(1).default(500),
  OEM_BACKOFF_MAX_MS: z.coerce.number().int().min(1).default(30_000),
  /** A Retry-After longer than this makes the call fail now instead of waiting. */
  OEM_MAX_RETRY_AFTER_SECONDS: seconds(60),
  CIRCUIT_FAILURE_THRESHOLD: z.coerce.number().int().min(1).default(10),
  CIRCUIT_OPEN_SECONDS: seconds(30),
  TOKEN_REFRESH_SKEW_SECONDS: z.coerce.number().int().min(0).default(120),
  /** |battery power| at or below this many W counts as idle (sensor noise). */
  IDLE_THRESHOLD_W: z.coerce.number().min(0).default(50),
  POLLER_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6000).default(30_000),
  POLLER_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(3_000),
  /**
   * Optional: without it, connections stored encrypted (by the admin API) are skipped and
   * rotated tokens are written in the clear; with it, every write is encrypted.
   */
  CREDENTIALS_ENCRYPTION_KEY: encryptionKey.optional(),
  /** The key's name in stored records ('aes-256-gcm:<id>'); must match the admin API's. */
  CREDENTIALS_ENCRYPTION_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/)
    .default(POLLER_DEFAULTS.CREDENTIALS_ENCRYPTION_KEY_ID),
  /** A command older than this when read is failed instead of run: a late setpoint can harm. */
  COMMAND_MAX_AGE_SECONDS: seconds(POLLER_DEFAULTS.COMMAND_MAX_AGE_SECONDS),
  /** How long a command waits for its connection's partition to be read after an assignment. */
  COMMAND_OWNERSHIP_WAIT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(POLLER_DEFAULTS.COMMAND_OWNERSHIP_WAIT_MS),
});

export type PollerEnv = z.infer<typeof pollerEnvSchema>;

export interface OemEndpoints {
  apiUrl: string;
  authUrl: string;
  intervalSeconds: number;
}

export interface PollerConfig {
  connectivity: ConnectivityConfig;
  metricsPort: number;
  oems: Record<Oem, OemEndpoints>;
  http: {
    rateLimitPerSecond: number;
    concurrency: number;
    timeoutMs: number;
    maxAttempts: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    maxRetryAfterSeconds: number;
  };
  circuit: { failureThreshold: number; openMs: number };
  tokenRefreshSkewSeconds: number;
  idleThresholdW: number;
  group: { sessionTimeoutMs: number; heartbeatIntervalMs: number };
  /** Undefined: encrypted connections cannot be read, and writes are in the clear. */
  credentialsKey: CredentialsKey | undefined;
  commands: { maxAgeMs: number; ownershipWaitMs: number };
}

/** Parses the environment once at start-up (GP_CONFIG_INVALID names every bad key). */
export function loadPollerConfig(env: NodeJS.ProcessEnv = process.env): PollerConfig {
  return toPollerConfig(parseEnv(pollerEnvSchema, env));
}

export function toPollerConfig(env: PollerEnv): PollerConfig {
  return {
    connectivity: toConnectivityConfig(env, 'poller'),
    metricsPort: env.METRICS_PORT,
    oems: {
      tesla: {
        apiUrl: env.TESLA_API_URL,
        authUrl: env.TESLA_AUTH_URL,
        intervalSeconds: env.POLL_INTERVAL_TESLA_SECONDS,
      },
      enphase: {
        apiUrl: env.ENPHASE_API_URL,
        authUrl: env.ENPHASE_AUTH_URL,
        intervalSeconds: env.POLL_INTERVAL_ENPHASE_SECONDS,
      },
    },
    http: {
      rateLimitPerSecond: env.OEM_RATE_LIMIT_PER_SECOND,
      concurrency: env.OEM_CONCURRENCY,
      timeoutMs: env.OEM_TIMEOUT_MS,
      maxAttempts: env.OEM_MAX_ATTEMPTS,
      backoffBaseMs: env.OEM_BACKOFF_BASE_MS,
      backoffMaxMs: env.OEM_BACKOFF_MAX_MS,
      maxRetryAfterSeconds: env.OEM_MAX_RETRY_AFTER_SECONDS,
    },
    circuit: {
      failureThreshold: env.CIRCUIT_FAILURE_THRESHOLD,
      openMs: env.CIRCUIT_OPEN_SECONDS * 1000,
    },
    tokenRefreshSkewSeconds: env.TOKEN_REFRESH_SKEW_SECONDS,
    idleThresholdW: env.IDLE_THRESHOLD_W,
    group: {
      sessionTimeoutMs: env.POLLER_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: env.POLLER_HEARTBEAT_INTERVAL_MS,
    },
    credentialsKey: env.CREDENTIALS_ENCRYPTION_KEY
      ? { id: env.CREDENTIALS_ENCRYPTION_KEY_ID, key: env.CREDENTIALS_ENCRYPTION_KEY }
      : undefined,
    commands: {
      maxAgeMs: env.COMMAND_MAX_AGE_SECONDS * 1000,
      ownershipWaitMs: env.COMMAND_OWNERSHIP_WAIT_MS,
    },
  };
}

export function isOem(value: string): value is Oem {
  return (OEMS as readonly string[]).includes(value);
}
