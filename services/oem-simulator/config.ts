import { z } from 'zod';
import { baseEnvSchema, parseEnv } from '../common/config';
import { createSimulatorError, SimulatorErrorCode } from './errors';
import { parseFaultConfig } from './faults';
import { FAULT_KINDS, type FaultConfig, type FaultKind, type SimulatorOptions } from './types';

export const SIM_ENV_DEFAULTS = Object.freeze({
  SIM_PORT: 8090,
  SIM_HOST: '0.0.0.0',
  SIM_SEED: 1,
  SIM_TESLA_SITES: 5,
  SIM_ENPHASE_SYSTEMS: 5,
  SIM_TOKEN_TTL_SECONDS: 3600,
  SIM_FAULT_RATE: 0,
  SIM_FAULT_KINDS: FAULT_KINDS.filter((kind) => kind !== 'slow').join(','),
  SIM_SLOW_DELAY_MS: 15_000,
  SIM_RETRY_AFTER_SECONDS: 1,
  SIM_OFFLINE_RATE: 0.02,
  SIM_CHURN_RATE: 0.005,
  SIM_LIFECYCLE_TICK_MS: 60_000,
});

const rate = z.coerce.number().min(0).max(1);

export const simulatorEnvSchema = baseEnvSchema.extend({
  SIM_PORT: z.coerce.number().int().min(0).max(65535).default(SIM_ENV_DEFAULTS.SIM_PORT),
  SIM_HOST: z.string().min(1).default(SIM_ENV_DEFAULTS.SIM_HOST),
  SIM_SEED: z.coerce.number().int().default(SIM_ENV_DEFAULTS.SIM_SEED),
  SIM_TESLA_SITES: z.coerce.number().int().min(0).max(100_000).default(5),
  SIM_ENPHASE_SYSTEMS: z.coerce.number().int().min(0).max(100_000).default(5),
  SIM_TOKEN_TTL_SECONDS: z.coerce.number().int().min(1).default(3600),
  SIM_FAULT_RATE: rate.default(SIM_ENV_DEFAULTS.SIM_FAULT_RATE),
  SIM_FAULT_KINDS: z
    .string()
    .default(SIM_ENV_DEFAULTS.SIM_FAULT_KINDS)
    .transform((value) =>
      value
        .split(',')
        .map((kind) => kind.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(FAULT_KINDS))),
  SIM_FAULTS_JSON: z.string().optional(),
  SIM_SLOW_DELAY_MS: z.coerce.number().int().min(0).default(SIM_ENV_DEFAULTS.SIM_SLOW_DELAY_MS),
  SIM_RETRY_AFTER_SECONDS: z.coerce.number().int().min(0).default(1),
  SIM_OFFLINE_RATE: rate.default(SIM_ENV_DEFAULTS.SIM_OFFLINE_RATE),
  SIM_CHURN_RATE: rate.default(SIM_ENV_DEFAULTS.SIM_CHURN_RATE),
  SIM_LIFECYCLE_TICK_MS: z.coerce.number().int().min(1000).default(60_000),
});

export type SimulatorEnv = z.infer<typeof simulatorEnvSchema>;

export function parseSimulatorEnv(env: NodeJS.ProcessEnv = process.env): SimulatorEnv {
  return parseEnv(simulatorEnvSchema, env);
}

/** The options `startSimulator` takes, from the parsed environment. */
export function toSimulatorOptions(env: SimulatorEnv): SimulatorOptions {
  return {
    port: env.SIM_PORT,
    host: env.SIM_HOST,
    seed: env.SIM_SEED,
    fleet: { tesla: env.SIM_TESLA_SITES, enphase: env.SIM_ENPHASE_SYSTEMS },
    tokenTtlSeconds: env.SIM_TOKEN_TTL_SECONDS,
    offlineRate: env.SIM_OFFLINE_RATE,
    churnRate: env.SIM_CHURN_RATE,
    lifecycleTickMs: env.SIM_LIFECYCLE_TICK_MS,
    faults: faultsFromEnv(env),
  };
}

/** SIM_FAULTS_JSON when given; otherwise SIM_FAULT_RATE for each listed kind, both OEMs. */
export function faultsFromEnv(env: SimulatorEnv): FaultConfig {
  const timing = {
    slowDelayMs: env.SIM_SLOW_DELAY_MS,
    retryAfterSeconds: env.SIM_RETRY_AFTER_SECONDS,
  };
  if (env.SIM_FAULTS_JSON !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(env.SIM_FAULTS_JSON);
    } catch (err: unknown) {
      throw createSimulatorError(
        SimulatorErrorCode.faultConfigInvalid,
        'SIM_FAULTS_JSON is not JSON',
        {
          keys: ['SIM_FAULTS_JSON'],
          cause: String(err),
        },
      );
    }
    return parseFaultConfig({ ...timing, ...(parsed as object) });
  }
  const rates = Object.fromEntries(
    env.SIM_FAULT_KINDS.map((kind: FaultKind) => [kind, env.SIM_FAULT_RATE]),
  );
  return { tesla: rates, enphase: { ...rates }, ...timing };
}
