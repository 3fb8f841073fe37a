import { z } from 'zod';
import {
  baseEnvSchema,
  booleanFlag,
  parseEnv,
  toConnectivityConfig,
  type ConnectivityConfig,
} from '../common/config';

/** Defaults of every dispatcher setting, in one place. */
export const DISPATCHER_DEFAULTS = Object.freeze({
  METRICS_PORT: 9403,
  // 12 retries after the first attempt: ~3.9 days in all, ~3.2 days with every jitter at -20%.
  DISPATCHER_RETRY_SCHEDULE: '5s,30s,2m,10m,30m,1h,3h,6h,12h,24h,24h,24h',
  DISPATCHER_RETRY_JITTER: 0.2,
  DISPATCHER_THROTTLE_MIN_DELAY: '60s',
  DISPATCHER_RETRY_AFTER_MAX: '24h',
  // One delay per retry tier topic, in the order of RETRY_TIER_TOPICS (retry-tiers.ts).
  DISPATCHER_RETRY_TIER_DELAYS: '0,5s,1m,10m,1h,6h',
  DISPATCHER_MAX_IN_FLIGHT_PER_DESTINATION: 32,
  // A queue is for bursts to a healthy endpoint; a slow one is caught by the queue wait.
  DISPATCHER_MAX_QUEUED_PER_DESTINATION: 5000,
  DISPATCHER_MAX_QUEUE_WAIT: '2s',
  DISPATCHER_MAX_PENDING_EVENTS: 10000,
  DISPATCHER_AUTO_DISABLE_AFTER: '5d',
  DISPATCHER_SECRET_OVERLAP: '24h',
  DISPATCHER_CONNECTIONS_PER_ORIGIN: 64,
  DISPATCHER_COMMIT_INTERVAL: '500ms',
  // How soon a crashed replica's partitions move to the others (the broker allows >= 6 s).
  DISPATCHER_SESSION_TIMEOUT: '30s',
  DISPATCHER_START_FROM: 'earliest',
  DISPATCHER_DESTINATION_LABELS: 50,
});

export const dispatcherEnvSchema = baseEnvSchema.extend({
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(DISPATCHER_DEFAULTS.METRICS_PORT),
  DISPATCHER_ALLOW_PRIVATE_URLS: booleanFlag(false),
  DISPATCHER_RETRY_SCHEDULE: durationList(DISPATCHER_DEFAULTS.DISPATCHER_RETRY_SCHEDULE),
  DISPATCHER_RETRY_JITTER: z.coerce
    .number()
    .min(0)
    .max(0.9)
    .default(DISPATCHER_DEFAULTS.DISPATCHER_RETRY_JITTER),
  DISPATCHER_THROTTLE_MIN_DELAY: duration(DISPATCHER_DEFAULTS.DISPATCHER_THROTTLE_MIN_DELAY),
  DISPATCHER_RETRY_AFTER_MAX: duration(DISPATCHER_DEFAULTS.DISPATCHER_RETRY_AFTER_MAX),
  DISPATCHER_RETRY_TIER_DELAYS: durationList(DISPATCHER_DEFAULTS.DISPATCHER_RETRY_TIER_DELAYS)
    .refine((delays) => delays.length === 6 && delays[0] === 0, 'six delays, the first 0')
    .refine((delays) => delays.every((d, i) => i === 0 || d > delays[i - 1]!), 'increasing'),
  DISPATCHER_MAX_IN_FLIGHT_PER_DESTINATION: positiveInt(
    DISPATCHER_DEFAULTS.DISPATCHER_MAX_IN_FLIGHT_PER_DESTINATION,
  ),
  DISPATCHER_MAX_QUEUED_PER_DESTINATION: z.coerce
    .number()
    .int()
    .min(0)
    .default(DISPATCHER_DEFAULTS.DISPATCHER_MAX_QUEUED_PER_DESTINATION),
  DISPATCHER_MAX_QUEUE_WAIT: duration(DISPATCHER_DEFAULTS.DISPATCHER_MAX_QUEUE_WAIT),
  DISPATCHER_MAX_PENDING_EVENTS: positiveInt(DISPATCHER_DEFAULTS.DISPATCHER_MAX_PENDING_EVENTS),
  DISPATCHER_AUTO_DISABLE_AFTER: duration(DISPATCHER_DEFAULTS.DISPATCHER_AUTO_DISABLE_AFTER),
  DISPATCHER_SECRET_OVERLAP: duration(DISPATCHER_DEFAULTS.DISPATCHER_SECRET_OVERLAP),
  DISPATCHER_CONNECTIONS_PER_ORIGIN: positiveInt(
    DISPATCHER_DEFAULTS.DISPATCHER_CONNECTIONS_PER_ORIGIN,
  ),
  DISPATCHER_COMMIT_INTERVAL: duration(DISPATCHER_DEFAULTS.DISPATCHER_COMMIT_INTERVAL, 10),
  // The broker refuses sessions under group.min.session.timeout.ms, 6 s by default.
  DISPATCHER_SESSION_TIMEOUT: duration(DISPATCHER_DEFAULTS.DISPATCHER_SESSION_TIMEOUT, 6_000),
  DISPATCHER_START_FROM: z
    .enum(['earliest', 'latest'])
    .default(DISPATCHER_DEFAULTS.DISPATCHER_START_FROM),
  DISPATCHER_DESTINATION_LABELS: z.coerce
    .number()
    .int()
    .min(0)
    .default(DISPATCHER_DEFAULTS.DISPATCHER_DESTINATION_LABELS),
});

export type DispatcherEnv = z.infer<typeof dispatcherEnvSchema>;

/** What the dispatcher's modules take, in milliseconds and plain numbers. */
export interface DispatcherConfig {
  connectivity: ConnectivityConfig;
  metricsPort: number;
  allowPrivateUrls: boolean;
  retry: {
    scheduleMs: number[];
    jitterRatio: number;
    throttleMinDelayMs: number;
    retryAfterMaxMs: number;
  };
  tierDelaysMs: number[];
  maxInFlightPerDestination: number;
  maxQueuedPerDestination: number;
  maxQueueWaitMs: number;
  maxPendingEvents: number;
  autoDisableAfterMs: number;
  secretOverlapMs: number;
  connectionsPerOrigin: number;
  commitIntervalMs: number;
  sessionTimeoutMs: number;
  startFrom: 'earliest' | 'latest';
  destinationLabelLimit: number;
}

export function loadDispatcherConfig(env: NodeJS.ProcessEnv = process.env): DispatcherConfig {
  const parsed = parseEnv(dispatcherEnvSchema, env);
  return {
    connectivity: toConnectivityConfig(parsed, 'dispatcher'),
    metricsPort: parsed.METRICS_PORT,
    allowPrivateUrls: parsed.DISPATCHER_ALLOW_PRIVATE_URLS,
    retry: {
      scheduleMs: parsed.DISPATCHER_RETRY_SCHEDULE,
      jitterRatio: parsed.DISPATCHER_RETRY_JITTER,
      throttleMinDelayMs: parsed.DISPATCHER_THROTTLE_MIN_DELAY,
      retryAfterMaxMs: parsed.DISPATCHER_RETRY_AFTER_MAX,
    },
    tierDelaysMs: parsed.DISPATCHER_RETRY_TIER_DELAYS,
    maxInFlightPerDestination: parsed.DISPATCHER_MAX_IN_FLIGHT_PER_DESTINATION,
    maxQueuedPerDestination: parsed.DISPATCHER_MAX_QUEUED_PER_DESTINATION,
    maxQueueWaitMs: parsed.DISPATCHER_MAX_QUEUE_WAIT,
    maxPendingEvents: parsed.DISPATCHER_MAX_PENDING_EVENTS,
    autoDisableAfterMs: parsed.DISPATCHER_AUTO_DISABLE_AFTER,
    secretOverlapMs: parsed.DISPATCHER_SECRET_OVERLAP,
    connectionsPerOrigin: parsed.DISPATCHER_CONNECTIONS_PER_ORIGIN,
    commitIntervalMs: parsed.DISPATCHER_COMMIT_INTERVAL,
    sessionTimeoutMs: parsed.DISPATCHER_SESSION_TIMEOUT,
    startFrom: parsed.DISPATCHER_START_FROM,
    destinationLabelLimit: parsed.DISPATCHER_DESTINATION_LABELS,
  };
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** '250ms', '5s', '2m', '1h', '5d', or a bare number of milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!);
}

/** The inverse of parseDurationMs: `ms` in the largest unit that divides it ('3s', '36h'). */
export function formatDurationMs(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const unitMs = UNIT_MS[unit]!;
    if (ms >= unitMs && ms % unitMs === 0) return `${ms / unitMs}${unit}`;
  }
  return `${ms}ms`;
}

function duration(defaultText: string, minMs = 0) {
  return z
    .string()
    .default(defaultText)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: "expected a duration like '500ms', '5s', '2m', '1h'",
        });
        return z.NEVER;
      }
      if (ms < minMs) {
        ctx.addIssue({ code: 'custom', message: `expected at least ${minMs} ms, got ${ms} ms` });
        return z.NEVER;
      }
      return ms;
    });
}

function durationList(defaultText: string) {
  return z
    .string()
    .default(defaultText)
    .transform((text, ctx) => {
      const items = text.split(',').map((item) => parseDurationMs(item));
      if (items.length === 0 || items.some((ms) => ms === undefined)) {
        ctx.addIssue({ code: 'custom', message: "expected durations like '5s,30s,2m'" });
        return z.NEVER;
      }
      return items as number[];
    });
}

function positiveInt(defaultValue: number) {
  return z.coerce.number().int().min(1).default(defaultValue);
}
