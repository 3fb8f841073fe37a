import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { request } from 'undici';
import type { ConnectivityConfig } from './config';
import { CommonErrorCode, GridpulseError } from './errors';

/** The .avsc files under schemas/, by file name without extension. */
export type SchemaName = 'device-state' | 'event' | (string & {}); // services add their own files; this keeps the common ones autocompleted

/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary) through a
 * Confluent-compatible registry (Apicurio's /apis/ccompat/v7 locally). Subjects follow the
 * topic-name strategy: `<topic>-value`. The first encode for a topic registers the schema file
 * (BACKWARD compatibility), so a deploy with an incompatible change fails loudly at its first
 * write instead of producing records old consumers cannot read.
 */
export interface AvroSerde {
  encode(topic: string, schema: SchemaName, value: unknown): Promise<Buffer>;
  decode<T>(buffer: Buffer): Promise<T>;
  /** Registers `schema` under `<topic>-value` (idempotent) and returns its id. */
  register(topic: string, schema: SchemaName): Promise<number>;
}

export interface AvroSerdeOptions {
  /** Per registry request; the client library sets none, so a hung registry would hang us. */
  requestTimeoutMs?: number;
  /** Tries of an unanswered registration (idempotent) before GP_REGISTRY_UNAVAILABLE. */
  registerAttempts?: number;
}

export function createAvroSerde(
  config: Pick<ConnectivityConfig, 'registry'>,
  options: AvroSerdeOptions = {},
): AvroSerde {
  const { requestTimeoutMs = 10_000, registerAttempts = 3 } = options;
  const { url, username, password } = config.registry;
  const auth = username && password ? { username, password } : undefined;
  const registry = new SchemaRegistry({
    host: url,
    auth,
    middlewares: [requestTimeout(requestTimeoutMs)],
  } as ConstructorParameters<typeof SchemaRegistry>[0]);
  const idsBySubject = new Map<string, Promise<number>>();

  async function register(topic: string, schema: SchemaName): Promise<number> {
    const subject = `${topic}-value`;
    const cacheKey = `${subject}\u0000${schema}`;
    let id = idsBySubject.get(cacheKey);
    if (!id) {
      const setBackward = () =>
        putBackwardCompatibility(config.registry, subject, requestTimeoutMs);
      id = registerSubject(registry, subject, schema, registerAttempts, setBackward);
      idsBySubject.set(cacheKey, id);
      // A failed registration must not stick: the next encode tries again.
      id.catch(() => idsBySubject.delete(cacheKey));
    }
    return id;
  }

  return {
    register,
    async encode(topic, schema, value) {
      const id = await register(topic, schema);
      return registry.encode(id, value);
    },
    async decode<T>(buffer: Buffer): Promise<T> {
      try {
        return (await registry.decode(buffer)) as T;
      } catch (err) {
        throw new GridpulseError(
          CommonErrorCode.recordUndecodable,
          'record is not decodable Avro',
          {
            cause: err,
            retriable: isRegistryUnreachable(err),
            context: { sizeBytes: buffer.length },
          },
        );
      }
    },
  };
}

/** Reads schemas/<name>.avsc, the source of truth for a topic's records. */
export function readSchemaFile(name: SchemaName): string {
  const file = path.join(findSchemasDir(), `${name}.avsc`);
  if (!existsSync(file)) {
    throw new GridpulseError(CommonErrorCode.schemaNotFound, 'no such schema file', {
      context: { file },
    });
  }
  return readFileSync(file, 'utf8');
}

async function registerSubject(
  registry: SchemaRegistry,
  subject: string,
  schema: SchemaName,
  attempts: number,
  setBackward: () => Promise<void>,
): Promise<number> {
  const body = readSchemaFile(schema);
  for (let attempt = 1; ; attempt += 1) {
    try {
      const { id } = await registry.register({ type: SchemaType.AVRO, schema: body }, {
        subject,
        compatibility: 'BACKWARD',
      } as Parameters<SchemaRegistry['register']>[1]);
      return id;
    } catch (err) {
      // Two processes registering a new subject at once both see no compatibility rule and
      // both create it; Apicurio answers the second with 409. The schema is registered by
      // then, and on the next try the client finds the rule and only checks it.
      if (statusOf(err) === 409 && attempt < attempts) continue;
      // The client registers a new subject's schema first and sets its rule second. A process
      // killed in between, or a second one reading the subject between the two steps, finds
      // a subject without a rule, which reads as the registry's global level, NONE: give it
      // the rule every gridpulse subject has. Any other level was set by someone: refuse.
      if (isUnsetCompatibility(err) && attempt < attempts) {
        await setBackward();
        continue;
      }
      if (!isRegistryUnreachable(err)) {
        throw new GridpulseError(
          CommonErrorCode.schemaRejected,
          'schema registry rejected schema',
          {
            cause: err,
            context: { subject, schema, status: statusOf(err) },
          },
        );
      }
      // Registering the same schema again is harmless, and a lost answer is seen under load.
      if (attempt >= attempts) {
        throw new GridpulseError(
          CommonErrorCode.registryUnavailable,
          'schema registry unreachable',
          {
            cause: err,
            retriable: true,
            context: { subject, attempts },
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
    }
  }
}

function isUnsetCompatibility(err: unknown): boolean {
  return (
    err instanceof Error &&
    err.name === 'ConfluentSchemaRegistryCompatibilityError' &&
    /!= NONE\)$/.test(err.message)
  );
}

/** PUT /config/{subject}: the client library offers no call for it. */
async function putBackwardCompatibility(
  registry: ConnectivityConfig['registry'],
  subject: string,
  timeoutMs: number,
): Promise<void> {
  const { url, username, password } = registry;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (username && password)
    headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const response = await request(`${url}/config/${encodeURIComponent(subject)}`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  await response.body.dump();
  // 409: a concurrent process created the rule just now, which is what we wanted.
  if (response.statusCode >= 300 && response.statusCode !== 409) {
    throw new GridpulseError(CommonErrorCode.schemaRejected, 'subject compatibility not set', {
      context: { subject, status: response.statusCode },
    });
  }
}

function statusOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'status' in err) {
    const { status } = err as { status: unknown };
    return typeof status === 'number' ? status : undefined;
  }
  return undefined;
}

/** A mappersmith middleware: the registry client sets no timeout of its own. */
function requestTimeout(ms: number) {
  return () => ({
    prepareRequest: (next: () => Promise<{ enhance(extras: { timeout: number }): unknown }>) =>
      next().then((request) => request.enhance({ timeout: ms })),
  });
}

/**
 * The registry client reports a connection failure or a timeout as a ResponseError with status
 * 400 and the socket error in its message, the same status as a real 400 from the registry.
 */
const CLIENT_SIDE_FAILURE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|Timeout \(\d+ms\)/;

function isRegistryUnreachable(err: unknown): boolean {
  const status = statusOf(err);
  const message = err instanceof Error ? err.message : '';
  if (CLIENT_SIDE_FAILURE.test(message)) return true;
  if (status !== undefined) return status >= 500;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'].includes(code);
}

let schemasDir: string | undefined;

/** schemas/ sits at the repository root, above both the sources and any compiled output. */
function findSchemasDir(): string {
  if (schemasDir) return schemasDir;
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'schemas');
    if (existsSync(path.join(candidate, 'event.avsc'))) {
      schemasDir = candidate;
      return candidate;
    }
  }
  throw new GridpulseError(CommonErrorCode.schemaNotFound, 'schemas directory not found', {
    context: { from: __dirname },
  });
}

/**
 * Decodes a record, waiting out an unreachable registry: a retriable failure (the registry
 * did not answer for a schema id not cached yet) is tried again, 1 s, 2 s, 4 s, then every 5 s,
 * until it decodes or `shouldStop()` is true, which throws the last error. A record that can
 * never be decoded throws at once. So a consumer skips only records that are really bad: one
 * it skipped for a registry outage would be lost once its offset was committed.
 */
export async function decodeWaitingForRegistry<T>(
  serde: AvroSerde,
  value: Buffer,
  options: {
    shouldStop: () => boolean;
    /** Before each wait: log it, and heartbeat if the caller's consumer loop is blocked. */
    onWait?: (err: unknown, delayMs: number) => void | Promise<void>;
  },
): Promise<T> {
  for (let delayMs = 1_000; ; delayMs = Math.min(delayMs * 2, 5_000)) {
    try {
      return await serde.decode<T>(value);
    } catch (err) {
      if (!isRetriableError(err) || options.shouldStop()) throw err;
      await options.onWait?.(err, delayMs);
      const deadline = Date.now() + delayMs;
      while (Date.now() < deadline && !options.shouldStop()) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(250, delayMs)));
      }
    }
  }
}

/** Whether an error says to try again later (gridpulse and kafkajs errors both carry it). */
export function isRetriableError(err: unknown): boolean {
  return (err as { retriable?: unknown } | null)?.retriable === true;
}
