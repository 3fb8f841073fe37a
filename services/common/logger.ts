import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log line's fields. Secrets reach logs mostly
 * through error contexts and HTTP request options, so the usual suspects are listed at the top
 * level and one or two levels down.
 */
const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'apiKey',
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'clientSecret',
  'client_secret',
  'secret',
  'secrets',
  'signingSecret',
  'password',
  'credentials',
];
export const REDACTED_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Where lines go; stdout by default. Tests pass an in-memory sink. */
  destination?: DestinationStream;
}

/**
 * One JSON line per event on stdout, fields first and a short fixed message. Each component
 * takes a child: `logger.child({ component: 'token-refresher' })`.
 */
export function createLogger({ service, level = 'info', destination }: LoggerOptions): Logger {
  return pino(
    {
      level,
      base: { service },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
