import { z } from 'zod';
import {
  baseEnvSchema,
  booleanFlag,
  parseEnv,
  toConnectivityConfig,
} from '../../services/common/config';
import { GridpulseError } from '../../services/common/errors';

describe('parseEnv', () => {
  it('applies the defaults when nothing is set', () => {
    const env = parseEnv(baseEnvSchema, {});
    expect(env.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(env.SCHEMA_REGISTRY_URL).toBe('http://127.0.0.1:8081/apis/ccompat/v7');
    expect(env.KAFKA_SSL).toBe(false);
    expect(env.GRIDPULSE_TOPIC_PREFIX).toBe('');
  });

  it('splits and trims a broker list', () => {
    const env = parseEnv(baseEnvSchema, { KAFKA_BROKERS: 'a:9092, b:9093' });
    expect(env.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
  });

  it('names every bad key in one GP_CONFIG_INVALID error', () => {
    const attempt = () =>
      parseEnv(baseEnvSchema, { KAFKA_BROKERS: 'no-port', LOG_LEVEL: 'loud', KAFKA_SSL: 'maybe' });
    expect(attempt).toThrow(GridpulseError);
    try {
      attempt();
    } catch (err) {
      const error = err as GridpulseError;
      expect(error.code).toBe('GP_CONFIG_INVALID');
      expect(error.context.keys).toEqual(
        expect.arrayContaining(['KAFKA_BROKERS', 'LOG_LEVEL', 'KAFKA_SSL']),
      );
      expect(error.message).toContain('KAFKA_BROKERS');
    }
  });

  it('refuses a topic prefix with a trailing dot, saying gridpulse adds the dot', () => {
    expect(parseEnv(baseEnvSchema, { GRIDPULSE_TOPIC_PREFIX: 'a.b' }).GRIDPULSE_TOPIC_PREFIX).toBe(
      'a.b',
    );
    expect(() => parseEnv(baseEnvSchema, { GRIDPULSE_TOPIC_PREFIX: 'bad.' })).toThrow(
      expect.objectContaining({
        code: 'GP_CONFIG_INVALID',
        message: expect.stringMatching(/GRIDPULSE_TOPIC_PREFIX: no trailing dot/),
      }),
    );
  });

  it('takes a variable set to nothing as unset, so its default applies', () => {
    const schema = baseEnvSchema.extend({ METRICS_PORT: z.coerce.number().int().default(9401) });
    expect(parseEnv(schema, { METRICS_PORT: '', LOG_LEVEL: '  ' })).toMatchObject({
      METRICS_PORT: 9401,
      LOG_LEVEL: 'info',
    });
  });

  it('refuses numbers in other notations than plain decimal, naming each key', () => {
    const schema = baseEnvSchema.extend({
      POLLS: z.coerce.number().int().default(3),
      TIMEOUT_MS: z.coerce.number().default(1000),
      RATIO: z.coerce.number().default(0.5),
      NAME: z.string().default('x'),
    });
    expect(parseEnv(schema, { POLLS: ' 4 ', RATIO: '0.25', NAME: '0x10' })).toMatchObject({
      POLLS: 4,
      RATIO: 0.25,
      NAME: '0x10',
    });
    expect(() => parseEnv(schema, { POLLS: '0x3', TIMEOUT_MS: '1e4', LOG_LEVEL: 'loud' })).toThrow(
      expect.objectContaining({
        code: 'GP_CONFIG_INVALID',
        message: expect.stringMatching(
          /POLLS: expected a plain decimal number, got '0x3'; TIMEOUT_MS: expected a plain decimal number, got '1e4'; LOG_LEVEL: /,
        ),
        context: { keys: ['POLLS', 'TIMEOUT_MS', 'LOG_LEVEL'] },
      }),
    );
  });

  it('lets a service extend the base schema with its own keys', () => {
    const schema = baseEnvSchema.extend({
      FEATURE_ON: booleanFlag(true),
      LIMIT: z.coerce.number().default(5),
    });
    const env = parseEnv(schema, { FEATURE_ON: 'no' });
    expect(env.FEATURE_ON).toBe(false);
    expect(env.LIMIT).toBe(5);
  });
});

describe('toConnectivityConfig', () => {
  it('refuses a SASL mechanism without credentials', () => {
    const env = parseEnv(baseEnvSchema, { KAFKA_SASL_MECHANISM: 'plain' });
    expect(() => toConnectivityConfig(env, 'poller')).toThrow(/KAFKA_SASL_USERNAME/);
  });

  it('names the client after the service unless told otherwise', () => {
    const env = parseEnv(baseEnvSchema, {});
    expect(toConnectivityConfig(env, 'differ').kafka.clientId).toBe('gridpulse-differ');
  });
});
