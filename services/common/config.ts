import { z } from 'zod';
import { CommonErrorCode, GridpulseError } from './errors';

/**
 * Environment variables every service reads. Each service extends this with its own keys in
 * its config.ts; all of them are documented in the README's configuration table.
 */
export const BASE_DEFAULTS = Object.freeze({
  KAFKA_BROKERS: '127.0.0.1:9092',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/ccompat/v7',
  GRIDPULSE_TOPIC_PREFIX: '',
  KAFKA_REPLICATION_FACTOR: '1',
  LOG_LEVEL: 'info',
});

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const baseEnvSchema = z.object({
  KAFKA_BROKERS: z
    .string()
    .default(BASE_DEFAULTS.KAFKA_BROKERS)
    .transform((value) =>
      value
        .split(',')
        .map((broker) => broker.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port')).min(1)),
  KAFKA_CLIENT_ID: z.string().optional(),
  KAFKA_SSL: booleanFlag(false),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).default(1),
  SCHEMA_REGISTRY_URL: z.url().default(BASE_DEFAULTS.SCHEMA_REGISTRY_URL),
  SCHEMA_REGISTRY_USERNAME: z.string().optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
  GRIDPULSE_TOPIC_PREFIX: z
    .string()
    .regex(/^[a-z0-9._-]*$/, 'lowercase letters, digits, dot, dash, underscore')
    .refine(
      (prefix) => !prefix.endsWith('.'),
      "no trailing dot: gridpulse adds the dot itself ('staging' gives staging.events.v1)",
    )
    .default(''),
  LOG_LEVEL: logLevel.default('info'),
});

export type BaseEnv = z.infer<typeof baseEnvSchema>;

/** What the Kafka and registry helpers need, in the shape they take it. */
export interface ConnectivityConfig {
  kafka: {
    brokers: string[];
    clientId: string;
    ssl: boolean;
    sasl?: {
      mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
      username: string;
      password: string;
    };
    replicationFactor: number;
  };
  registry: { url: string; username?: string; password?: string };
  topicPrefix: string;
  logLevel: z.infer<typeof logLevel>;
}

/**
 * Parses the environment once, at start-up. A bad or missing key throws GP_CONFIG_INVALID
 * naming every offending key, so the operator fixes them all in one go.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env) {
  // A variable set to nothing (`METRICS_PORT=` in a manifest) counts as unset, so its default
  // applies: coerced, it would be 0, and a metrics port of 0 is a random one.
  const given = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value === undefined || value.trim() !== ''),
  );
  const result = schema.safeParse(given);
  const notation = nonDecimalNumbers(schema, given);
  if (result.success && notation.length === 0) return result.data as z.infer<S>;

  // The first path element is the variable; deeper ones (an item of a list) only add noise.
  const keyOf = (issue: z.core.$ZodIssue) => String(issue.path[0] ?? '(environment)');
  const issues = result.success ? [] : result.error.issues;
  const problems = [
    ...notation.map((key) => `${key}: expected a plain decimal number, got '${given[key]}'`),
    ...issues
      .filter((issue) => !notation.includes(keyOf(issue)))
      .map((issue) => `${keyOf(issue)}: ${issue.message}`),
  ];
  throw new GridpulseError(
    CommonErrorCode.configInvalid,
    `invalid configuration: ${problems.join('; ')}`,
    { context: { keys: [...new Set([...notation, ...issues.map(keyOf)])] } },
  );
}

/**
 * The numeric variables written in another notation: z.coerce.number takes '0x10', '1e3' and
 * '0b11' as numbers, which in a config is a typo far more often than a wish.
 */
function nonDecimalNumbers(schema: z.ZodType, env: Record<string, string | undefined>): string[] {
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape ?? {};
  return Object.entries(shape)
    .filter(([key, field]) => {
      const value = env[key];
      return value !== undefined && isNumberField(field) && !/^\s*-?\d+(\.\d+)?\s*$/.test(value);
    })
    .map(([key]) => key);
}

/** Whether a field is a number under its default/optional wrappers. */
function isNumberField(field: z.ZodType): boolean {
  let def = (field as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod
    .def;
  for (let depth = 0; depth < 5; depth += 1) {
    if (def.type === 'number') return true;
    if (!def.innerType) return false;
    def = (def.innerType as unknown as { _zod: { def: typeof def } })._zod.def;
  }
  return false;
}

export function toConnectivityConfig(env: BaseEnv, service: string): ConnectivityConfig {
  const hasSasl = env.KAFKA_SASL_MECHANISM !== undefined;
  if (hasSasl && (!env.KAFKA_SASL_USERNAME || !env.KAFKA_SASL_PASSWORD)) {
    throw new GridpulseError(
      CommonErrorCode.configInvalid,
      'invalid configuration: KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
      { context: { keys: ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] } },
    );
  }

  return {
    kafka: {
      brokers: env.KAFKA_BROKERS,
      clientId: env.KAFKA_CLIENT_ID ?? `gridpulse-${service}`,
      ssl: env.KAFKA_SSL,
      sasl: hasSasl
        ? {
            mechanism: env.KAFKA_SASL_MECHANISM!,
            username: env.KAFKA_SASL_USERNAME!,
            password: env.KAFKA_SASL_PASSWORD!,
          }
        : undefined,
      replicationFactor: env.KAFKA_REPLICATION_FACTOR,
    },
    registry: {
      url: env.SCHEMA_REGISTRY_URL,
      username: env.SCHEMA_REGISTRY_USERNAME,
      password: env.SCHEMA_REGISTRY_PASSWORD,
    },
    topicPrefix: env.GRIDPULSE_TOPIC_PREFIX,
    logLevel: env.LOG_LEVEL,
  };
}

/** 'true'/'1'/'yes' and 'false'/'0'/'no', case-insensitive; anything else is an error. */
export function booleanFlag(defaultValue: boolean) {
  return z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'TRUE', 'FALSE', 'True', 'False'])
    .default(defaultValue ? 'true' : 'false')
    .transform((value) => ['true', '1', 'yes'].includes(value.toLowerCase()));
}
