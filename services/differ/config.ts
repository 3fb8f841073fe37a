import { z } from 'zod';
import {
  baseEnvSchema,
  booleanFlag,
  parseEnv,
  toConnectivityConfig,
  type ConnectivityConfig,
} from '../common/config';
import type { RuleConfig } from './rules';

/** Every differ setting with its default; the README's differ section lists the same. */
export const DIFFER_DEFAULTS = Object.freeze({
  METRICS_PORT: 9402,
  DIFF_UPDATE_MODE: 'deadband',
  DIFF_UPDATED_ON_DISCOVERY: true,
  DIFF_OFFLINE_POLLS: 3,
  DIFF_DEADBAND_CHARGE_PERCENTAGE: 1,
  DIFF_DEADBAND_CHARGE_WH: 100,
  DIFF_DEADBAND_POWER_W: 100,
  DIFF_DEADBAND_ENERGY_WH: 100,
  DIFF_DEADBAND_BACKUP_RESERVE: 0,
  DIFF_PARTITIONS_CONCURRENTLY: 4,
  DIFF_MAX_RECORDS_PER_TRANSACTION: 1000,
  DIFF_RESTORE_TIMEOUT_MS: 60_000,
  DIFF_SESSION_TIMEOUT_MS: 30_000,
  DIFF_SHUTDOWN_TIMEOUT_MS: 30_000,
});

const nonNegative = (fallback: number) => z.coerce.number().min(0).default(fallback);

export const differEnvSchema = baseEnvSchema.extend({
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(DIFFER_DEFAULTS.METRICS_PORT),
  DIFF_UPDATE_MODE: z.enum(['deadband', 'every-sample']).default('deadband'),
  DIFF_UPDATED_ON_DISCOVERY: booleanFlag(DIFFER_DEFAULTS.DIFF_UPDATED_ON_DISCOVERY),
  DIFF_OFFLINE_POLLS: z.coerce.number().int().min(1).default(DIFFER_DEFAULTS.DIFF_OFFLINE_POLLS),
  DIFF_DEADBAND_CHARGE_PERCENTAGE: nonNegative(DIFFER_DEFAULTS.DIFF_DEADBAND_CHARGE_PERCENTAGE),
  DIFF_DEADBAND_CHARGE_WH: nonNegative(DIFFER_DEFAULTS.DIFF_DEADBAND_CHARGE_WH),
  DIFF_DEADBAND_POWER_W: nonNegative(DIFFER_DEFAULTS.DIFF_DEADBAND_POWER_W),
  DIFF_DEADBAND_ENERGY_WH: nonNegative(DIFFER_DEFAULTS.DIFF_DEADBAND_ENERGY_WH),
  DIFF_DEADBAND_BACKUP_RESERVE: nonNegative(DIFFER_DEFAULTS.DIFF_DEADBAND_BACKUP_RESERVE),
  DIFF_PARTITIONS_CONCURRENTLY: z.coerce
    .number()
    .int()
    .min(1)
    .default(DIFFER_DEFAULTS.DIFF_PARTITIONS_CONCURRENTLY),
  DIFF_MAX_RECORDS_PER_TRANSACTION: z.coerce
    .number()
    .int()
    .min(1)
    .default(DIFFER_DEFAULTS.DIFF_MAX_RECORDS_PER_TRANSACTION),
  DIFF_RESTORE_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(DIFFER_DEFAULTS.DIFF_RESTORE_TIMEOUT_MS),
  DIFF_SESSION_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(6000)
    .default(DIFFER_DEFAULTS.DIFF_SESSION_TIMEOUT_MS),
  DIFF_SHUTDOWN_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(DIFFER_DEFAULTS.DIFF_SHUTDOWN_TIMEOUT_MS),
});

export interface DifferConfig {
  connectivity: ConnectivityConfig;
  metricsPort: number;
  rules: RuleConfig;
  partitionsConcurrently: number;
  /** Input records per transaction: bounds its size and the work redone after an abort. */
  maxRecordsPerTransaction: number;
  restoreTimeoutMs: number;
  /** How long a silent (killed) replica keeps its partitions before the group moves them. */
  sessionTimeoutMs: number;
  shutdownTimeoutMs: number;
}

/** Reads and validates the differ's environment once; throws GP_CONFIG_INVALID naming bad keys. */
export function loadDifferConfig(env: NodeJS.ProcessEnv = process.env): DifferConfig {
  const parsed = parseEnv(differEnvSchema, env);
  return {
    connectivity: toConnectivityConfig(parsed, 'differ'),
    metricsPort: parsed.METRICS_PORT,
    rules: {
      updateMode: parsed.DIFF_UPDATE_MODE,
      updatedOnDiscovery: parsed.DIFF_UPDATED_ON_DISCOVERY,
      offlinePolls: parsed.DIFF_OFFLINE_POLLS,
      deadbands: {
        chargePercentage: parsed.DIFF_DEADBAND_CHARGE_PERCENTAGE,
        chargeWh: parsed.DIFF_DEADBAND_CHARGE_WH,
        powerW: parsed.DIFF_DEADBAND_POWER_W,
        energyWh: parsed.DIFF_DEADBAND_ENERGY_WH,
        backupReserve: parsed.DIFF_DEADBAND_BACKUP_RESERVE,
      },
    },
    partitionsConcurrently: parsed.DIFF_PARTITIONS_CONCURRENTLY,
    maxRecordsPerTransaction: parsed.DIFF_MAX_RECORDS_PER_TRANSACTION,
    restoreTimeoutMs: parsed.DIFF_RESTORE_TIMEOUT_MS,
    sessionTimeoutMs: parsed.DIFF_SESSION_TIMEOUT_MS,
    shutdownTimeoutMs: parsed.DIFF_SHUTDOWN_TIMEOUT_MS,
  };
}

/** The rules with every default: what tests and the benchmark start from. */
export function defaultRuleConfig(): RuleConfig {
  return loadDifferConfig({}).rules;
}
