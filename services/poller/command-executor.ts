import { randomUUID } from 'node:crypto';
import type { EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { commandResultEvent } from '../admin-api/event-payloads';
import { COMMAND_SCHEMA, type CommandRecord } from '../admin-api/records';
import type { AvroSerde } from '../common/avro';
import { isGridpulseError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { Topics } from '../common/topics';
import type { Oem } from './config';
import type { Connection } from './connection';
import type { PollerMetrics } from './metrics';
import type { OemHttpClient, OemRequest, OemResponse } from './oem-http';
import type { CommitOffsets } from './ownership';
import type { TokenManager } from './token-manager';

/**
 * Runs device commands from commands.v1 against the OEM, inside the poller replica that owns
 * the connection: only that replica holds the connection's tokens (refresh tokens are
 * single-use). ownership.ts hands it the command batches of the partitions whose connections
 * it has adopted; the poller hands over its OEM clients, token manager and connections.
 */
export interface CommandAccess {
  /** The connection if this poller owns it (undefined otherwise). */
  connection(connectionId: string): Connection | undefined;
  /**
   * Why a connection of an adopted partition cannot be used here (its latest revision is
   * unreadable, e.g. encrypted with a key this poller does not have); undefined otherwise.
   */
  unusableReason(connectionId: string): string | undefined;
  clients: Record<Oem, OemHttpClient>;
  tokens: TokenManager;
  /** OEM API base URLs, e.g. PollerConfig.oems.tesla.apiUrl. */
  apiUrls: Record<Oem, string>;
}

export interface CommandExecutor {
  /** Connects the transactional producer; call before the group starts fetching. */
  start(): Promise<void>;
  /** Runs the commands of one batch (ownership.ts calls it); see `startCommandExecutor`. */
  runBatch(payload: EachBatchPayload, commit: CommitOffsets): Promise<void>;
  /** No new command starts after this; the one in flight finishes. */
  markStopping(): void;
  stop(): Promise<void>;
}

export const COMMAND_EXECUTOR_DEFAULTS = Object.freeze({
  /** A command older than this when read is failed instead of run: a late setpoint can harm. */
  maxAgeMs: 10 * 60_000,
});

/**
 * Runs one PENDING command and returns it in its terminal state (SUCCEEDED or FAILED, with
 * executedAt and, on failure, the OEM's own message). Never throws: every failure is a FAILED
 * command, so a command never vanishes.
 */
export async function executeCommand(
  command: CommandRecord,
  access: CommandAccess,
  now: () => number = Date.now,
): Promise<CommandRecord> {
  const fail = (message: string): CommandRecord => ({
    ...command,
    status: 'FAILED',
    executedAt: now(),
    errorMessage: message,
  });

  const unusable = command.connectionId ? access.unusableReason(command.connectionId) : undefined;
  if (unusable) return fail(unusable);
  const connection = command.connectionId ? access.connection(command.connectionId) : undefined;
  if (!connection) return fail('connection not found');
  if (!connection.enabled) return fail('connection disabled');
  const target = parseDeviceId(command.deviceId);
  if (!target || target.oem !== connection.oem) return fail('device not found');

  const oem = target.oem;
  const request = buildCommandRequest(
    command,
    target.oemDeviceId,
    oem,
    access.apiUrls[oem],
    connection,
  );
  if (!request) return fail('command not supported for this device');

  try {
    const response = await sendAuthorized(access, oem, connection.connectionId, request);
    if (response.status >= 200 && response.status < 300) {
      return { ...command, status: 'SUCCEEDED', executedAt: now(), errorMessage: null };
    }
    return fail(oemErrorMessage(oem, response));
  } catch (err) {
    // The poller's client already retried 5xx, timeouts and 429; its coded error says why.
    return fail(isGridpulseError(err) ? `${err.message} (${err.code})` : 'OEM request failed');
  }
}

/**
 * Runs the PENDING commands of the batches ownership.ts hands over (commands.v1 partitions
 * whose connections.v1 partition this replica has adopted, so `access.connection` answers for
 * every connection of the partition: a connection it does not know does not exist). Each
 * result goes out in one Kafka transaction with the command.succeeded/failed event and the
 * consumed offset, so a result is never recorded without its event nor twice for one read.
 *
 * One command per batch call: kafkajs fetches again only after every batch of a fetch is
 * done, so a command waiting on the OEM holds up the group's other partitions (the
 * connections replay included); the rest of the batch is fetched again right after.
 * Heartbeats go on while the OEM answers, which may take several client timeouts.
 *
 * A crash between the OEM call and the commit runs the command again after restart: the
 * commands are setpoints (reserve, mode, storm mode), so running one twice leaves the device
 * as running it once would, though a second event (with a later executedAt) is emitted.
 */
export function createCommandExecutor(options: {
  kafka: Kafka;
  serde: AvroSerde;
  topics: Topics;
  /** The consumer group whose offsets the transactions commit (the poller's). */
  groupId: string;
  access: CommandAccess;
  logger: Logger;
  metrics: PollerMetrics;
  heartbeatIntervalMs: number;
  now?: () => number;
  maxAgeMs?: number;
  /** Called after each result is committed (tests). */
  onResult?: (command: CommandRecord) => void;
}): CommandExecutor {
  const { kafka, serde, topics, access, metrics } = options;
  const logger = options.logger.child({ component: 'command-executor' });
  const now = options.now ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? COMMAND_EXECUTOR_DEFAULTS.maxAgeMs;
  const topic = topics['commands.v1'];
  let stopping = false;

  const producer: Producer = kafka.producer({
    transactionalId: `${options.groupId}.commands.${randomUUID()}`,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });

  async function run(command: CommandRecord): Promise<CommandRecord> {
    if (now() - command.issuedAt > maxAgeMs) {
      return {
        ...command,
        status: 'FAILED',
        executedAt: now(),
        errorMessage: 'command expired before it could run',
      };
    }
    return executeCommand(command, access, now);
  }

  async function commitResult(result: CommandRecord, offset: PartitionOffset) {
    const value = await serde.encode(topic, COMMAND_SCHEMA, result);
    const event = await serde.encode(topics['events.v1'], 'event', commandResultEvent(result));
    await inTransaction(async (transaction) => {
      await transaction.send({
        topic,
        acks: -1,
        messages: [{ key: result.connectionId ?? result.deviceId, value }],
      });
      await transaction.send({
        topic: topics['events.v1'],
        acks: -1,
        messages: [{ key: result.deviceId, value: event }],
      });
      await transaction.sendOffsets({
        consumerGroupId: options.groupId,
        topics: [{ topic, partitions: [offset] }],
      });
    });
  }

  /**
   * One transaction at a time: batches of several partitions run concurrently, and a kafkajs
   * transactional producer refuses a second transaction while one is open
   * (CONCURRENT_TRANSACTIONS).
   */
  let transactionQueue: Promise<unknown> = Promise.resolve();
  function inTransaction(
    work: (transaction: Awaited<ReturnType<Producer['transaction']>>) => Promise<void>,
  ): Promise<void> {
    const next = transactionQueue.then(() => transactWithRetries(work));
    transactionQueue = next.catch(() => undefined);
    return next;
  }

  async function transactWithRetries(
    work: (transaction: Awaited<ReturnType<Producer['transaction']>>) => Promise<void>,
  ) {
    for (let attempt = 1; ; attempt += 1) {
      const transaction = await producer.transaction();
      try {
        await work(transaction);
        await transaction.commit();
        return;
      } catch (err) {
        await transaction.abort().catch((abortErr: unknown) => {
          logger.debug({ err: abortErr }, 'command transaction abort failed');
        });
        // sendOffsets throws a retriable error while the group coordinator is still loading.
        const retriable = (err as { retriable?: unknown }).retriable === true;
        if (!retriable || attempt >= 5) throw err;
        logger.warn({ err, attempt }, 'command transaction retried');
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /** Keeps the group session alive while `work` waits on the OEM. */
  async function withHeartbeats<T>(heartbeat: () => Promise<void>, work: () => Promise<T>) {
    const timer = setInterval(() => {
      heartbeat().catch((err: unknown) => {
        // A rebalance in progress: the batch turns stale and its result is still committed
        // (the command ran); the next owner re-reads from the committed offset.
        logger.debug({ err }, 'heartbeat during command failed');
      });
    }, options.heartbeatIntervalMs);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  return {
    async start() {
      await producer.connect();
      await serde.register(topic, COMMAND_SCHEMA);
      await serde.register(topics['events.v1'], 'event');
    },

    async runBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }, commit) {
      let skipped: PartitionOffset | undefined;
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || stopping) break;
        const offset = nextOffset(batch.partition, message);
        const command = await decodeCommand(serde, message, logger);
        if (!command || command.status !== 'PENDING') {
          // Results (ours included: they share the partition) and unreadable records.
          resolveOffset(message.offset);
          skipped = offset;
          continue;
        }

        const startedAt = Date.now();
        const result = await withHeartbeats(heartbeat, () => run(command));
        await commitResult(result, offset);
        resolveOffset(message.offset);
        skipped = undefined;
        metrics.commands.inc({
          oem: result.oem ?? 'unknown',
          outcome: result.status.toLowerCase(),
        });
        logger.info(
          {
            deviceId: result.deviceId,
            oem: result.oem,
            connectionId: result.connectionId,
            commandId: result.commandId,
            status: result.status,
            durationMs: Date.now() - startedAt,
          },
          'command finished',
        );
        options.onResult?.(result);
        return;
      }
      if (skipped) await commit([{ topic, partition: skipped.partition, offset: skipped.offset }]);
    },

    markStopping() {
      stopping = true;
    },

    async stop() {
      stopping = true;
      await producer.disconnect();
      logger.info('command executor stopped');
    },
  };

  function nextOffset(partition: number, message: KafkaMessage): PartitionOffset {
    return { topic, partition, offset: String(BigInt(message.offset) + 1n) };
  }
}

interface PartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

/** `tesla:<energy_site_id>` or `enphase:<system_id>` (the poller's device ids). */
export function parseDeviceId(deviceId: string): { oem: Oem; oemDeviceId: string } | null {
  const match = /^(tesla|enphase):([0-9A-Za-z_-]+)$/.exec(deviceId);
  return match ? { oem: match[1] as Oem, oemDeviceId: match[2]! } : null;
}

/** Our modes to Enphase's battery_mode values (the simulator README's mapping). */
const ENPHASE_MODES: Record<string, string> = {
  self_consumption: 'self-consumption',
  autonomous: 'savings-mode',
  backup: 'full-backup',
};

/**
 * Tesla Fleet API: POST /api/1/energy_sites/{id}/backup | operation | storm_mode.
 * Enphase v4: PUT /api/v4/systems/config/{id}/battery_settings | storm_guard, with ?key=.
 */
export function buildCommandRequest(
  command: CommandRecord,
  oemDeviceId: string,
  oem: Oem,
  apiUrl: string,
  connection: Connection,
): OemRequest | null {
  const base = apiUrl.replace(/\/$/, '');
  const json = { 'content-type': 'application/json', accept: 'application/json' };
  const id = encodeURIComponent(oemDeviceId);

  if (oem === 'tesla') {
    const site = `${base}/api/1/energy_sites/${id}`;
    if (command.action === 'SET_BACKUP_RESERVE' && command.backupReservePercent !== null) {
      return {
        method: 'POST',
        url: `${site}/backup`,
        headers: json,
        body: JSON.stringify({ backup_reserve_percent: command.backupReservePercent }),
      };
    }
    if (command.action === 'SET_OPERATING_MODE' && command.operatingMode !== null) {
      return {
        method: 'POST',
        url: `${site}/operation`,
        headers: json,
        body: JSON.stringify({ default_real_mode: command.operatingMode }),
      };
    }
    if (command.action === 'SET_STORM_MODE' && command.stormModeEnabled !== null) {
      return {
        method: 'POST',
        url: `${site}/storm_mode`,
        headers: json,
        body: JSON.stringify({ enabled: command.stormModeEnabled }),
      };
    }
    return null;
  }

  const key = encodeURIComponent(connection.credentials.apiKey ?? '');
  const config = `${base}/api/v4/systems/config/${id}`;
  const put = 'PUT';
  if (command.action === 'SET_BACKUP_RESERVE' && command.backupReservePercent !== null) {
    return {
      method: put,
      url: `${config}/battery_settings?key=${key}`,
      headers: json,
      body: JSON.stringify({ reserve_soc: command.backupReservePercent }),
    };
  }
  if (command.action === 'SET_OPERATING_MODE' && command.operatingMode !== null) {
    const mode = ENPHASE_MODES[command.operatingMode];
    if (!mode) return null;
    return {
      method: put,
      url: `${config}/battery_settings?key=${key}`,
      headers: json,
      body: JSON.stringify({ battery_mode: mode }),
    };
  }
  if (command.action === 'SET_STORM_MODE' && command.stormModeEnabled !== null) {
    const status = command.stormModeEnabled ? 'enabled' : 'disabled';
    return {
      method: put,
      url: `${config}/storm_guard?key=${key}`,
      headers: json,
      body: JSON.stringify({ storm_guard_status: status }),
    };
  }
  return null;
}

/** The OEM's own words: Tesla `error` (+ `error_description`), Enphase `message` (+ `details`). */
export function oemErrorMessage(oem: Oem, response: OemResponse): string {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(response.body);
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (an HTML error page, a cut body): the status alone has to do.
  }
  const [main, detail] =
    oem === 'tesla' ? [body.error, body.error_description] : [body.message, body.details];
  const text = [main, detail].filter((part) => typeof part === 'string' && part !== '').join(': ');
  return text ? `${text} (HTTP ${response.status})` : `OEM answered HTTP ${response.status}`;
}

/** Sends with the connection's bearer token; a 401 refreshes once and retries once. */
async function sendAuthorized(
  access: CommandAccess,
  oem: Oem,
  connectionId: string,
  request: OemRequest,
): Promise<OemResponse> {
  const token = await access.tokens.accessToken(connectionId);
  const withToken = (value: string) => ({
    ...request,
    headers: { ...request.headers, authorization: `Bearer ${value}` },
  });
  const first = await access.clients[oem].send(withToken(token));
  if (first.status !== 401) return first;
  const renewed = await access.tokens.refreshAfterRejection(connectionId, token);
  return access.clients[oem].send(withToken(renewed));
}

async function decodeCommand(
  serde: AvroSerde,
  message: KafkaMessage,
  logger: Logger,
): Promise<CommandRecord | null> {
  if (!message.value) return null;
  try {
    return await serde.decode<CommandRecord>(message.value);
  } catch (err) {
    // An unreachable registry is retried by re-reading the batch; a bad record is skipped.
    if (isGridpulseError(err) && err.retriable) throw err;
    logger.warn({ err, offset: message.offset }, 'command record skipped');
    return null;
  }
}
