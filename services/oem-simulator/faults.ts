import { z } from 'zod';
import { createSimulatorError, SimulatorErrorCode } from './errors';
import { hashString, uniform } from './random';
import { FAULT_KINDS, type FaultConfig, type FaultKind, type SimOem } from './types';

export interface FaultInjector {
  /** Validates and replaces the configuration; throws GP_SIM_FAULT_CONFIG_INVALID. */
  configure(config: unknown): void;
  config(): ResolvedFaultConfig;
  /**
   * The fault to inject into this request, or null. `scopeKey` is the device id (or an account
   * key for listings): the n-th request of a scope always draws the same way for a given seed.
   */
  draw(oem: SimOem, scopeKey: string, applicable: readonly FaultKind[]): FaultKind | null;
}

export interface ResolvedFaultConfig extends FaultConfig {
  slowDelayMs: number;
  retryAfterSeconds: number;
}

export const DEFAULT_SLOW_DELAY_MS = 15_000;
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

const rate = z.number().min(0).max(1);
const ratesSchema = z
  .object(Object.fromEntries(FAULT_KINDS.map((kind) => [kind, rate.optional()])))
  .strict();
const faultConfigSchema = z
  .object({
    tesla: ratesSchema.optional(),
    enphase: ratesSchema.optional(),
    devices: z.record(z.string(), ratesSchema).optional(),
    slowDelayMs: z.number().int().min(0).max(600_000).optional(),
    retryAfterSeconds: z.number().int().min(0).max(3600).optional(),
  })
  .strict();

export function parseFaultConfig(config: unknown): ResolvedFaultConfig {
  const result = faultConfigSchema.safeParse(config ?? {});
  if (!result.success) {
    const problems = result.error.issues.map(
      (i) => `${i.path.join('.') || '(root)'}: ${i.message}`,
    );
    throw createSimulatorError(
      SimulatorErrorCode.faultConfigInvalid,
      `invalid fault configuration: ${problems.join('; ')}`,
      { keys: result.error.issues.map((issue) => issue.path.join('.')) },
    );
  }
  const parsed = result.data as FaultConfig;
  return {
    ...parsed,
    slowDelayMs: parsed.slowDelayMs ?? DEFAULT_SLOW_DELAY_MS,
    retryAfterSeconds: parsed.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
  };
}

export function createFaultInjector(seed: number, initial: unknown): FaultInjector {
  let current = parseFaultConfig(initial);
  const requestCounts = new Map<string, number>();

  return {
    configure(config) {
      current = parseFaultConfig(config);
    },
    config: () => current,
    draw(oem, scopeKey, applicable) {
      const oemRates = current[oem] ?? {};
      const deviceRates = current.devices?.[scopeKey] ?? {};
      const rates = { ...oemRates, ...deviceRates };
      if (!applicable.some((kind) => (rates[kind] ?? 0) > 0)) return null;

      // Scopes without faults never get a counter, so a fault-free 100k fleet stores nothing.
      const n = requestCounts.get(scopeKey) ?? 0;
      requestCounts.set(scopeKey, n + 1);
      let u = uniform(seed, hashString(scopeKey), n, 0xfa);
      for (const kind of FAULT_KINDS) {
        if (!applicable.includes(kind)) continue;
        u -= rates[kind] ?? 0;
        if (u < 0) return kind;
      }
      return null;
    },
  };
}
