import type { KafkaMessage } from 'kafkajs';
import type { AvroSerde } from '../common/avro';
import type { Topics } from '../common/topics';
import type { ConnectionRecord } from '../poller/connection';
import type { IdempotencyStamp } from './idempotency';
import type { CommandRecord, CustomerRecord, EnrollmentRecord, SiteRecord } from './records';

/** Where a device lives: learnt from device-state.v1 (the poller's records). */
export interface DeviceLocation {
  deviceId: string;
  connectionId: string;
  workspaceId: string;
  oem: string;
}

export type ResourceKind = 'customer' | 'site' | 'enrollment' | 'command';

/** The resource an Idempotency-Key created, and the fingerprint of that request. */
export interface IdempotencyEntry {
  id: string;
  /** null for records written before the fingerprint was stored. */
  requestHash: string | null;
}

/**
 * The API's in-memory copy of the compacted topics (and of commands.v1), rebuilt from the
 * beginning at start-up and kept current by a follower. Writes are also applied here as soon
 * as their transaction commits, so a client reads its own writes at once; when the follower
 * later delivers the same record, the newer revision (by updatedAt) wins.
 */
export interface PlatformView {
  customers: ReadonlyMap<string, CustomerRecord>;
  sites: ReadonlyMap<string, SiteRecord>;
  enrollments: ReadonlyMap<string, EnrollmentRecord>;
  commands: ReadonlyMap<string, CommandRecord>;
  connections: ReadonlyMap<string, ConnectionRecord>;
  devices: ReadonlyMap<string, DeviceLocation>;
  putCustomer(record: CustomerRecord): void;
  putSite(record: SiteRecord): void;
  putEnrollment(record: EnrollmentRecord): void;
  putCommand(record: CommandRecord): void;
  putConnection(record: ConnectionRecord): void;
  /** The id of the resource an earlier POST with this Idempotency-Key created, if any. */
  findByIdempotencyKey(
    workspaceId: string,
    kind: ResourceKind,
    key: string,
  ): IdempotencyEntry | undefined;
  /** Applies one record read from `topic`. */
  applyMessage(topic: string, message: Pick<KafkaMessage, 'key' | 'value'>): Promise<void>;
  /** Applies one device-state.v1 record (only where the device lives is kept). */
  applyDeviceState(message: Pick<KafkaMessage, 'value'>): Promise<void>;
}

export function createPlatformView(options: { serde: AvroSerde; topics: Topics }): PlatformView {
  const { serde, topics } = options;
  const customers = new Map<string, CustomerRecord>();
  const sites = new Map<string, SiteRecord>();
  const enrollments = new Map<string, EnrollmentRecord>();
  const commands = new Map<string, CommandRecord>();
  const connections = new Map<string, ConnectionRecord>();
  const devices = new Map<string, DeviceLocation>();
  const idempotency = new Map<string, IdempotencyEntry>();

  function remember(
    kind: ResourceKind,
    record: { workspaceId: string } & IdempotencyStamp,
    id: string,
  ) {
    if (record.idempotencyKey === null) return;
    const key = idempotencyIndexKey(record.workspaceId, kind, record.idempotencyKey);
    // A record written with a schema older than the field decodes without it.
    const requestHash = record.idempotencyRequestHash ?? null;
    if (!idempotency.has(key)) idempotency.set(key, { id, requestHash });
  }

  const view: PlatformView = {
    customers,
    sites,
    enrollments,
    commands,
    connections,
    devices,
    putCustomer(record) {
      if (isOlder(customers.get(record.id), record)) return;
      customers.set(record.id, record);
      remember('customer', record, record.id);
    },
    putSite(record) {
      if (isOlder(sites.get(record.id), record)) return;
      sites.set(record.id, record);
      remember('site', record, record.id);
    },
    putEnrollment(record) {
      const current = enrollments.get(record.id);
      if (isOlder(current, record)) return;
      // An approval is final: a late PENDING revision never undoes it.
      if (current?.status === 'APPROVED' && record.status !== 'APPROVED') return;
      enrollments.set(record.id, record);
      remember('enrollment', record, record.id);
    },
    putCommand(record) {
      const current = commands.get(record.commandId);
      if (current && current.status !== 'PENDING' && record.status === 'PENDING') return;
      commands.set(record.commandId, record);
      remember('command', record, record.commandId);
    },
    putConnection(record) {
      if (isOlder(connections.get(record.connectionId), record)) return;
      connections.set(record.connectionId, record);
    },
    findByIdempotencyKey: (workspaceId, kind, key) =>
      idempotency.get(idempotencyIndexKey(workspaceId, kind, key)),

    async applyMessage(topic, message) {
      const key = message.key?.toString('utf8');
      if (!key) return;
      if (!message.value) {
        // Tombstones: compaction forgets the record, so does the view.
        if (topic === topics['customers.v1']) customers.delete(key);
        else if (topic === topics['sites.v1']) sites.delete(key);
        else if (topic === topics['enrollments.v1']) enrollments.delete(key);
        else if (topic === topics['connections.v1']) connections.delete(key);
        return;
      }
      const value = await serde.decode<unknown>(message.value);
      if (topic === topics['customers.v1']) view.putCustomer(value as CustomerRecord);
      else if (topic === topics['sites.v1']) view.putSite(value as SiteRecord);
      else if (topic === topics['enrollments.v1']) view.putEnrollment(value as EnrollmentRecord);
      else if (topic === topics['commands.v1']) view.putCommand(value as CommandRecord);
      else if (topic === topics['connections.v1']) view.putConnection(value as ConnectionRecord);
    },

    async applyDeviceState(message) {
      if (!message.value) return;
      const state = await serde.decode<DeviceLocation>(message.value);
      const { deviceId, connectionId, workspaceId, oem } = state;
      devices.set(deviceId, { deviceId, connectionId, workspaceId, oem });
    },
  };
  return view;
}

function idempotencyIndexKey(workspaceId: string, kind: ResourceKind, key: string): string {
  return `${workspaceId}\u0000${kind}\u0000${key}`;
}

function isOlder(current: { updatedAt: number } | undefined, incoming: { updatedAt: number }) {
  return current !== undefined && incoming.updatedAt < current.updatedAt;
}
