import { randomBytes } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import type { AvroSerde } from '../common/avro';
import type { Topics } from '../common/topics';
import {
  DEFAULT_TIMEOUT_MS,
  parseDestinationInput,
  type Destination,
  type DestinationInput,
} from './destination';
import type { DestinationStore } from './destination-store';
import { DispatcherErrorCode, dispatcherError } from './errors';
import { assertDestinationUrl } from './ssrf-guard';
import { readTopicRange } from './topic-reader';
import { generateSigningSecret } from './webhook-signer';

/**
 * Create, read, change and delete destinations on destinations.v1. The CLI and (later) the admin
 * API use this; the dispatcher uses it to disable destinations (410 Gone, days of failures).
 */
export interface DestinationManager {
  create(input: DestinationInput): Promise<Destination>;
  list(): Promise<Destination[]>;
  get(id: string): Promise<Destination>;
  update(id: string, patch: Partial<DestinationInput>): Promise<Destination>;
  disable(id: string, reason: string): Promise<Destination>;
  enable(id: string): Promise<Destination>;
  /** A new secret signs from now on; the previous ones keep signing for `overlapMs`. */
  rotateSecret(id: string, options?: { overlapMs?: number }): Promise<Destination>;
  /** Records the time of a 2xx: the auto-disable clock. */
  recordSuccess(id: string, atMs: number): Promise<void>;
  delete(id: string): Promise<void>;
  close(): Promise<void>;
}

const STORE_CATCH_UP_MS = 5_000;

export function createDestinationManager(options: {
  kafka: Kafka;
  serde: AvroSerde;
  topics: Topics;
  groupPrefix: string;
  allowPrivateUrls: boolean;
  secretOverlapMs: number;
  /** When given (inside the dispatcher), current state comes from it instead of a topic read. */
  store?: DestinationStore;
  now?: () => number;
}): DestinationManager {
  const { kafka, serde, topics, store } = options;
  const topic = topics['destinations.v1'];
  const now = options.now ?? Date.now;
  let producer: Producer | undefined;

  async function write(destination: Destination): Promise<Destination> {
    producer ??= await connectProducer(kafka);
    const value = await serde.encode(topic, 'destination', destination);
    await producer.send({ topic, acks: -1, messages: [{ key: destination.id, value }] });
    await storeCaughtUp(
      destination.id,
      (seen) => seen !== undefined && seen.updatedAt >= destination.updatedAt,
    );
    return destination;
  }

  /**
   * Read-your-writes for callers that read through the store (the admin API: a GET right after
   * a POST answered 404 while the store had not yet read the record back). Bounded: a store
   * that lags longer only delays the caller, the write itself is done.
   */
  async function storeCaughtUp(
    id: string,
    caughtUp: (seen: Destination | undefined) => boolean,
  ): Promise<void> {
    if (!store) return;
    const deadline = Date.now() + STORE_CATCH_UP_MS;
    while (!caughtUp(store.get(id)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function readAll(): Promise<Map<string, Destination>> {
    if (store) return new Map(store.all().map((destination) => [destination.id, destination]));
    const found = new Map<string, Destination>();
    await readTopicRange(kafka, {
      topic,
      groupPrefix: options.groupPrefix,
      onMessage: async (message) => {
        const id = message.key?.toString();
        if (!id) return;
        if (message.value) found.set(id, await serde.decode<Destination>(message.value));
        else found.delete(id);
      },
    });
    return found;
  }

  async function get(id: string): Promise<Destination> {
    const destination = store ? store.get(id) : (await readAll()).get(id);
    if (!destination) {
      throw dispatcherError(DispatcherErrorCode.destinationNotFound, `no such destination ${id}`, {
        context: { destinationId: id },
      });
    }
    return destination;
  }

  async function change(id: string, apply: (current: Destination) => Destination) {
    const current = await get(id);
    return write({ ...apply(current), updatedAt: now() });
  }

  return {
    async create(input) {
      const fields = parseDestinationInput(input, false) as DestinationInput;
      await assertDestinationUrl(fields.url, options);
      const at = now();
      return write({
        id: `dst_${randomBytes(12).toString('hex')}`,
        url: fields.url,
        description: fields.description ?? null,
        workspaceId: fields.workspaceId ?? null,
        secrets: [{ secret: generateSigningSecret(), createdAt: at, expiresAt: null }],
        eventTypes: fields.eventTypes ?? [],
        deviceTypes: fields.deviceTypes ?? [],
        headers: fields.headers ?? {},
        enabled: true,
        disabledReason: null,
        disabledAt: null,
        rateLimitPerSecond: fields.rateLimitPerSecond ?? null,
        timeoutMs: fields.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        createdAt: at,
        updatedAt: at,
        enabledAt: at,
        lastSuccessAt: null,
      });
    },

    list: async () => [...(await readAll()).values()].sort((a, b) => a.createdAt - b.createdAt),

    get,

    async update(id, patch) {
      const fields = parseDestinationInput(patch, true);
      if (fields.url !== undefined) await assertDestinationUrl(fields.url, options);
      return change(id, (current) => ({
        ...current,
        ...definedOnly(fields),
        description: fields.description !== undefined ? fields.description : current.description,
        workspaceId: fields.workspaceId !== undefined ? fields.workspaceId : current.workspaceId,
        rateLimitPerSecond:
          fields.rateLimitPerSecond !== undefined
            ? fields.rateLimitPerSecond
            : current.rateLimitPerSecond,
      }));
    },

    disable: (id, reason) =>
      change(id, (current) => ({
        ...current,
        enabled: false,
        disabledReason: reason,
        disabledAt: now(),
      })),

    enable: (id) =>
      change(id, (current) => ({
        ...current,
        enabled: true,
        disabledReason: null,
        disabledAt: null,
        enabledAt: now(),
      })),

    rotateSecret: (id, rotation = {}) =>
      change(id, (current) => {
        const at = now();
        const expiresAt = at + (rotation.overlapMs ?? options.secretOverlapMs);
        const previous = current.secrets
          .filter((entry) => entry.expiresAt === null || entry.expiresAt > at)
          .map((entry) => ({
            ...entry,
            expiresAt: entry.expiresAt === null ? expiresAt : Math.min(entry.expiresAt, expiresAt),
          }));
        return {
          ...current,
          secrets: [
            { secret: generateSigningSecret(), createdAt: at, expiresAt: null },
            ...previous,
          ],
        };
      }),

    async recordSuccess(id, atMs) {
      // Limitation: a read-modify-write of the whole record; an admin change landing between
      // the read and this write is overwritten. Rare (hourly at most per destination).
      const current = store?.get(id);
      if (!current) return;
      await write({ ...current, lastSuccessAt: atMs });
    },

    async delete(id) {
      await get(id);
      producer ??= await connectProducer(kafka);
      await producer.send({ topic, acks: -1, messages: [{ key: id, value: null }] });
      await storeCaughtUp(id, (seen) => seen === undefined);
    },

    async close() {
      await producer?.disconnect();
      producer = undefined;
    },
  };
}

async function connectProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}

function definedOnly<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
