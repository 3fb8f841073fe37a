import type { Kafka, Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import type { CommandRecord } from '../admin-api/records';
import { createAvroSerde, type AvroSerde } from '../common/avro';
import { CredentialsErrorCode } from '../common/credentials-crypto';
import { DEVICE_STATE_SCHEMA, type DeviceState } from '../common/device-state';
import { GridpulseError, isGridpulseError } from '../common/errors';
import { createKafka } from '../common/kafka';
import type { Logger } from '../common/logger';
import { consumerGroupId, resolveTopics } from '../common/topics';
import { createEnphaseAdapter } from './adapters/enphase';
import { createTeslaAdapter } from './adapters/tesla';
import type { OemAdapter } from './adapters/types';
import { createCommandExecutor } from './command-executor';
import { OEMS, isOem, type Oem, type PollerConfig } from './config';
import type { Connection } from './connection';
import { createConnectionWriter, type ConnectionChange } from './connection-store';
import { buildDeviceState, type DeviceIdentity } from './device-state';
import { PollerErrorCode, isAbandoned } from './errors';
import { createPollerMetrics, type PollerMetrics, type PollOutcome } from './metrics';
import { createOemHttpClient, type OemHttpClient } from './oem-http';
import { createConnectionOwnership } from './ownership';
import { createScheduler, type ScheduledEntry } from './scheduler';
import { createTokenManager } from './token-manager';

export interface PollerOptions {
  config: PollerConfig;
  logger: Logger;
  /** Metrics go here; a fresh registry when omitted. */
  registry?: Registry;
  /** Hooks for tests and the CLI: every produced batch, after the broker acknowledged it. */
  onRecords?: (records: DeviceState[]) => void;
  /** Hook for tests: every command result, after its transaction committed. */
  onCommandResult?: (command: CommandRecord) => void;
}

export interface PollerHandle {
  readonly metrics: PollerMetrics;
  readonly registry: Registry;
  /** True once the replica joined the group and its producer is connected. */
  isReady(): boolean;
  ownedConnectionIds(): string[];
  stop(): Promise<void>;
}

/**
 * One poller replica, in-process: joins the pollers' consumer group on connections.v1 and
 * commands.v1 (the same partition numbers of both, ownership.ts), polls the connections of the
 * partitions it owns on their schedules, writes DeviceState records to device-state.v1 (Avro,
 * keyed by device id, idempotent producer, acks=all), and runs those connections' commands.
 */
export async function startPoller(options: PollerOptions): Promise<PollerHandle> {
  const { config } = options;
  const logger = options.logger.child({ component: 'poller' });
  const registry = options.registry ?? new Registry();
  const metrics = createPollerMetrics(registry);
  const topics = resolveTopics(config.connectivity.topicPrefix);
  const kafka: Kafka = createKafka(config.connectivity, options.logger);
  const serde: AvroSerde = createAvroSerde(config.connectivity);
  const groupId = consumerGroupId('poller', config.connectivity.topicPrefix);
  await assertCoPartitioned(kafka, topics['connections.v1'], topics['commands.v1']);

  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await serde.register(topics['device-state.v1'], DEVICE_STATE_SCHEMA);
  const writer = createConnectionWriter({
    producer,
    serde,
    topic: topics['connections.v1'],
    credentialsKey: config.credentialsKey,
  });

  const owned = new Map<string, OwnedConnection>();
  /** Connections whose latest revision could not be read, with the reason commands report. */
  const unusable = new Map<string, { partition: number; message: string }>();
  const clients = Object.fromEntries(
    OEMS.map((oem) => [
      oem,
      createOemHttpClient({
        oem,
        config: config.http,
        circuit: config.circuit,
        metrics,
        logger: options.logger,
      }),
    ]),
  ) as Record<Oem, OemHttpClient>;

  const tokens = createTokenManager({
    config,
    clients,
    metrics,
    logger: options.logger,
    connections: {
      get: (connectionId) => owned.get(connectionId)?.connection,
      async persist(connection) {
        await writer.put(connection);
        const entry = owned.get(connection.connectionId);
        if (entry) entry.connection = connection;
      },
    },
  });

  const adapters: Record<Oem, OemAdapter> = {
    tesla: createTeslaAdapter({
      apiUrl: config.oems.tesla.apiUrl,
      client: clients.tesla,
      tokens,
      idleThresholdW: config.idleThresholdW,
    }),
    enphase: createEnphaseAdapter({
      apiUrl: config.oems.enphase.apiUrl,
      client: clients.enphase,
      tokens,
      idleThresholdW: config.idleThresholdW,
    }),
  };

  async function produce(records: DeviceState[]): Promise<void> {
    if (records.length === 0) return;
    const topic = topics['device-state.v1'];
    const messages = await Promise.all(
      records.map(async (record) => ({
        key: record.deviceId,
        value: await serde.encode(topic, DEVICE_STATE_SCHEMA, record),
      })),
    );
    await producer.send({ topic, acks: -1, messages });
    for (const record of records) {
      metrics.recordsProduced.inc({ oem: record.oem, connectivity: record.connectivity });
    }
    options.onRecords?.(records);
  }

  /** Cycles the stop abandoned: they produced nothing and are retried by the next owner. */
  let abandonedCycles = 0;

  async function runCycle(
    entry: ScheduledEntry,
    lagMs: number,
    signal: AbortSignal,
  ): Promise<void> {
    const current = owned.get(entry.connectionId);
    if (!current) return;
    const oem = current.connection.oem as Oem;
    const cycleLogger = logger.child({ oem, connectionId: entry.connectionId });
    metrics.cycleLag.observe({ oem }, Math.max(0, lagMs) / 1000);
    const endTimer = metrics.pollDuration.startTimer({ oem });
    let outcome: PollOutcome = 'ok';

    try {
      const result = await adapters[oem].poll({
        connection: current.connection,
        polledAt: Date.now,
        logger: cycleLogger,
        metrics,
        signal,
      });
      const removed = removedRecords(current, result.listed, Date.now());
      await produce([...result.records, ...removed]);
      current.previousListing = result.listed;
      if (result.failedDevices > 0) outcome = 'partial';
      cycleLogger.debug(
        { records: result.records.length, removed: removed.length, failed: result.failedDevices },
        'poll cycle done',
      );
    } catch (err) {
      if (isAbandoned(err)) {
        outcome = 'abandoned';
        cycleLogger.debug('poll cycle abandoned');
      } else {
        outcome = 'failed';
        cycleLogger.warn({ err }, 'poll cycle failed');
      }
    } finally {
      metrics.polls.inc({ oem, outcome });
      if (outcome === 'abandoned') {
        // Not observed: its duration measures the stop, not the OEM.
        abandonedCycles += 1;
      } else {
        const durationSeconds = endTimer();
        cycleLogger.trace({ durationMs: Math.round(durationSeconds * 1000) }, 'poll cycle timing');
      }
    }
  }

  const scheduler = createScheduler({
    intervalSeconds: {
      tesla: config.oems.tesla.intervalSeconds,
      enphase: config.oems.enphase.intervalSeconds,
    },
    runCycle,
    onMissed(entry) {
      metrics.missedCycles.inc({ oem: entry.group });
      logger.warn({ oem: entry.group, connectionId: entry.connectionId }, 'poll cycle missed');
    },
    logger: options.logger,
  });

  function upsert(partition: number, connection: Connection): void {
    unusable.delete(connection.connectionId);
    const existing = owned.get(connection.connectionId);
    // Our own rotation may already be newer than a revision still on its way back to us.
    if (existing && existing.connection.updatedAt > connection.updatedAt) return;
    if (existing) {
      existing.connection = connection;
      existing.partition = partition;
    } else {
      owned.set(connection.connectionId, { connection, partition, previousListing: null });
    }
    if (connection.enabled && isOem(connection.oem)) {
      scheduler.add({ connectionId: connection.connectionId, group: connection.oem });
    } else {
      scheduler.remove(connection.connectionId);
      if (!isOem(connection.oem)) {
        logger.warn({ oem: connection.oem, connectionId: connection.connectionId }, 'unknown oem');
      }
    }
  }

  function forget(connectionId: string): void {
    scheduler.remove(connectionId);
    owned.delete(connectionId);
  }

  function updateOwnedGauge(): void {
    for (const oem of OEMS) {
      const count = [...owned.values()].filter((entry) => entry.connection.oem === oem).length;
      metrics.connectionsOwned.set({ oem }, count);
    }
  }

  function reject(partition: number, connectionId: string, err: unknown): void {
    const reason = rejectionReason(err);
    metrics.connectionsRejected.inc({ reason });
    const message = `connection not usable by the poller: ${reasonText(err)}`;
    // Logged once per connection and reason: every rebalance replays the record again.
    if (unusable.get(connectionId)?.message !== message) {
      logger.error({ err, connectionId, partition, reason }, 'connection not pollable');
    }
    unusable.set(connectionId, { partition, message });
  }

  const executor = createCommandExecutor({
    kafka,
    serde,
    topics,
    groupId,
    logger: options.logger,
    metrics,
    heartbeatIntervalMs: config.group.heartbeatIntervalMs,
    maxAgeMs: config.commands.maxAgeMs,
    onResult: options.onCommandResult,
    access: {
      connection: (connectionId) => owned.get(connectionId)?.connection,
      unusableReason: (connectionId) => unusable.get(connectionId)?.message,
      clients,
      tokens,
      apiUrls: { tesla: config.oems.tesla.apiUrl, enphase: config.oems.enphase.apiUrl },
    },
  });
  await executor.start();

  const ownership = createConnectionOwnership({
    kafka,
    serde,
    topics: { connections: topics['connections.v1'], commands: topics['commands.v1'] },
    groupId,
    sessionTimeoutMs: config.group.sessionTimeoutMs,
    heartbeatIntervalMs: config.group.heartbeatIntervalMs,
    credentialsKey: config.credentialsKey,
    logger: options.logger,
    handlers: {
      rejectConnection: reject,
      runCommands: (payload, commit) => executor.runBatch(payload, commit),
      adoptPartition(partition, connections) {
        const ids = new Set(connections.map((connection) => connection.connectionId));
        for (const [connectionId, entry] of owned) {
          if (entry.partition === partition && !ids.has(connectionId)) forget(connectionId);
        }
        for (const connection of connections) upsert(partition, connection);
        updateOwnedGauge();
      },
      applyChange(partition, change: ConnectionChange) {
        if (change.connection) upsert(partition, change.connection);
        else forget(change.connectionId);
        updateOwnedGauge();
      },
      releasePartition(partition) {
        for (const [connectionId, entry] of owned) {
          if (entry.partition === partition) forget(connectionId);
        }
        for (const [connectionId, entry] of unusable) {
          if (entry.partition === partition) unusable.delete(connectionId);
        }
        updateOwnedGauge();
      },
    },
  });

  scheduler.start();
  await ownership.start();
  logger.info({ groupId, encrypted: config.credentialsKey !== undefined }, 'poller started');

  let stopped = false;
  return {
    metrics,
    registry,
    isReady: () => ownership.hasJoined() && !stopped,
    ownedConnectionIds: () => [...owned.keys()].filter((id) => scheduler.has(id)),
    async stop() {
      if (stopped) return;
      stopped = true;
      logger.info('poller stopping');
      executor.markStopping();
      // Requests on the wire finish (OEM_TIMEOUT_MS at most) and their records are produced;
      // requests not sent yet are abandoned, with their cycles.
      await scheduler.stop();
      logger.info({ abandoned: abandonedCycles }, 'poll cycles finished');
      // Waits for the batch in flight: a running command finishes and commits first.
      await ownership.stop();
      logger.info('left the consumer group');
      await executor.stop();
      await producer.disconnect();
      logger.info('producer disconnected');
      await Promise.all(OEMS.map((oem) => clients[oem].close()));
      logger.info('poller stopped');
    },
  };
}

interface OwnedConnection {
  connection: Connection;
  partition: number;
  /** Devices in the OEM's listing last cycle; null before the first cycle on this replica. */
  previousListing: Map<string, DeviceIdentity> | null;
}

/** One REMOVED record per device that was listed last cycle and is gone now. */
function removedRecords(
  entry: OwnedConnection,
  listed: Map<string, DeviceIdentity>,
  polledAt: number,
): DeviceState[] {
  if (!entry.previousListing) return [];
  const removed: DeviceState[] = [];
  for (const [deviceId, identity] of entry.previousListing) {
    if (!listed.has(deviceId)) {
      removed.push(buildDeviceState(entry.connection, identity, 'REMOVED', polledAt, null));
    }
  }
  return removed;
}

/** A bounded metric label for a rejected connection record. */
function rejectionReason(err: unknown): string {
  if (isGridpulseError(err, CredentialsErrorCode.undecryptable)) {
    return String(err.context.reason ?? 'undecryptable');
  }
  return 'invalid';
}

/** What a command on such a connection reports: the code and reason, nothing secret. */
function reasonText(err: unknown): string {
  if (!isGridpulseError(err)) return 'record unreadable';
  const reason = err.context.reason;
  return typeof reason === 'string'
    ? `${err.message}, ${reason} (${err.code})`
    : `${err.message} (${err.code})`;
}

/**
 * ownership.ts gives each replica the same partition numbers of both topics; that only puts a
 * connection's commands with the connection when both topics have the same partition count.
 */
async function assertCoPartitioned(kafka: Kafka, connections: string, commands: string) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [connections, commands] });
    const counts = topics.map((topic) => topic.partitions.length);
    if (counts[0] !== counts[1]) {
      throw new GridpulseError(PollerErrorCode.partitionMismatch, 'topics not co-partitioned', {
        context: { connections, commands, partitions: counts },
      });
    }
  } finally {
    await admin.disconnect();
  }
}
