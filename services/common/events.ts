import { createHash } from 'node:crypto';

/** The envelope on events.v1 (schemas/event.avsc). `data` is the data object as JSON. */
export interface EventRecord {
  type: string;
  version: string;
  key: string;
  timestamp: number;
  workspaceId: string | null;
  deviceId: string | null;
  deviceType: string | null;
  data: string;
}

/** Payload versions, as the catalogue (the seed's events.md) gives them. */
export const EVENT_VERSIONS = Object.freeze({
  'customer.created': '0.0.1',
  'command.failed': '0.0.2',
  'command.succeeded': '0.0.2',
  'device.discovered': '1.0.0',
  'device.updated': '1.0.0',
  'device.disconnected': '1.0.0',
  'enrollment.approved': '0.0.1',
  'site.created': '0.0.1',
} as const);

export type EventType = keyof typeof EVENT_VERSIONS;

/**
 * JSON with object keys sorted at every depth and no whitespace. Two equal values always give
 * the same string, whatever order their keys were built in, which the event key depends on.
 * `undefined` members are dropped (as JSON.stringify does); non-finite numbers are refused.
 */
export function canonicalJson(value: unknown): string {
  // On the differ's hot path (one call per event): plain loops and one string, no arrays of parts.
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new TypeError(`canonicalJson: non-finite number ${value}`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i += 1) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined ? 'null' : canonicalJson(item);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}

/**
 * The event key: hex SHA-256 over the type and the canonical JSON of the data. Reprocessing
 * the same input yields the same key, so receivers dedupe on it (it is also the Standard
 * Webhooks webhook-id).
 *
 * `scope` is for a payload that does not name what it is about (the catalogue's
 * enrollment.approved has no enrollment id): the id of its source record goes into the hash
 * too, so two distinct events with identical data still get distinct keys.
 */
export function computeEventKey(type: string, data: unknown, scope?: string): string {
  const hash = createHash('sha256').update(type).update('\n');
  if (scope !== undefined) hash.update(scope).update('\n');
  return hash.update(canonicalJson(data)).digest('hex');
}

/** Builds the envelope for `data`, with its key and the catalogue version for `type`. */
export function createEventRecord(
  type: EventType,
  data: object,
  meta: {
    timestamp: number;
    workspaceId?: string | null;
    deviceId?: string | null;
    deviceType?: string | null;
    /** See computeEventKey. */
    keyScope?: string;
  },
): EventRecord {
  return {
    type,
    version: EVENT_VERSIONS[type],
    key: computeEventKey(type, data, meta.keyScope),
    timestamp: meta.timestamp,
    workspaceId: meta.workspaceId ?? null,
    deviceId: meta.deviceId ?? null,
    deviceType: meta.deviceType ?? null,
    // Insertion order, which the builders keep in the catalogue's order; the key does not
    // depend on it.
    data: JSON.stringify(data),
  };
}

/**
 * The JSON body a webhook receiver gets: {type, version, key, timestamp, data}, in the
 * catalogue's member order. Built by concatenation so `data` goes out byte for byte as stored.
 */
export function toWebhookBody(event: EventRecord): string {
  const timestamp = new Date(event.timestamp).toISOString();
  return (
    `{"type":${JSON.stringify(event.type)},"version":${JSON.stringify(event.version)},` +
    `"key":${JSON.stringify(event.key)},"timestamp":${JSON.stringify(timestamp)},` +
    `"data":${event.data}}`
  );
}
