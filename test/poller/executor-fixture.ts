import type { KafkaMessage } from 'kafkajs';
import { Writable } from 'node:stream';
import type { AdminApiHandle } from '../../services/admin-api/admin-api';
import { startAdminApi } from '../../services/admin-api/admin-api';
import { hashApiKey } from '../../services/admin-api/auth';
import { createLogger, type Logger } from '../../services/common/logger';
import type { TopicName } from '../../services/common/topics';
import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimAccount, SimulatorHandle } from '../../services/oem-simulator/types';
import type { Oem } from '../../services/poller/config';
import { startPoller, type PollerHandle, type PollerOptions } from '../../services/poller/poller';
import { ADMIN_API_TOPICS, adminConfig, http, type HttpResult } from '../admin-api/support';
import { waitFor, type TestKafka } from '../support/kafka';
import { pollerConfig } from './support';

/** The API key of a workspace (one per workspace of the simulated accounts). */
export function fixtureApiKey(workspaceId: string): string {
  return `poller-commands-key-${workspaceId}`;
}
/** The key the admin API encrypts connections with (CREDENTIALS_ENCRYPTION_KEY), as hex. */
export const FIXTURE_ENCRYPTION_KEY_HEX = '07'.repeat(32);

/** The fixture runs the admin API; the poller's topics are among the API's. */
export const COMMAND_TOPICS: TopicName[] = ADMIN_API_TOPICS;

export interface ExecutorFixture {
  sim: SimulatorHandle;
  api: AdminApiHandle;
  /** Connection id per simulated account id, as the API created them. */
  connectionIds: Map<string, string>;
  /** One device id per OEM (the first site of its first account). */
  devices: Record<Oem, string>;
  /** The first account's workspace; `post`/`get` use its key unless told otherwise. */
  workspaceId: string;
  /** Starts a poller replica with the fixture's config (key included unless overridden). */
  startPoller(
    overrides?: Record<string, string>,
    extra?: Partial<Omit<PollerOptions, 'config'>>,
  ): Promise<PollerHandle>;
  /** The API knows `deviceId` (a poller wrote its state), so commands to it are PENDING. */
  waitForDevice(deviceId: string): Promise<void>;
  post(url: string, payload?: unknown, workspaceId?: string): Promise<HttpResult>;
  get(url: string, workspaceId?: string): Promise<HttpResult>;
  stop(): Promise<void>;
}

/**
 * A simulator, the admin API (encrypting connections with FIXTURE_ENCRYPTION_KEY_HEX), and one
 * connection per simulated account created through the API's POST /connections. Tests start
 * their poller replicas with `startPoller`, so commands go API → commands.v1 → poller → OEM.
 */
export async function startExecutorFixture(
  testKafka: TestKafka,
  logger: Logger,
  fleet: { tesla: number; enphase: number } = { tesla: 1, enphase: 1 },
): Promise<ExecutorFixture> {
  const sim = await startSimulator({ port: 0, seed: 11, fleet });
  const accounts = sim.accounts();
  const workspaceId = accounts[0]!.workspaceId;
  const workspaces = [...new Set(accounts.map((account) => account.workspaceId))];

  let api: AdminApiHandle;
  try {
    api = await startAdminApi({
      config: adminConfig(testKafka, {
        apiKeys: workspaces.map((ws) => ({
          workspaceId: ws,
          sha256: hashApiKey(fixtureApiKey(ws)),
        })),
        credentialsKey: { id: 'k1', key: Buffer.from(FIXTURE_ENCRYPTION_KEY_HEX, 'hex') },
      }),
      logger,
    });
  } catch (err) {
    await sim.stop();
    throw err;
  }
  const headers = (ws: string) => ({ authorization: `Bearer ${fixtureApiKey(ws)}` });
  const post = (url: string, payload?: unknown, ws = workspaceId) =>
    http(api.url, { method: 'POST', url, payload, headers: headers(ws) });
  const get = (url: string, ws = workspaceId) =>
    http(api.url, { method: 'GET', url, headers: headers(ws) });

  const connectionIds = new Map<string, string>();
  for (const account of accounts) {
    const res = await post('/connections', connectionBody(account), account.workspaceId);
    if (res.statusCode !== 201) throw new Error(`POST /connections: ${res.statusCode} ${res.body}`);
    connectionIds.set(account.accountId, res.json().id as string);
  }
  const devices = {
    tesla: deviceOf(accounts, 'tesla'),
    enphase: deviceOf(accounts, 'enphase'),
  };
  const pollers: PollerHandle[] = [];

  return {
    sim,
    api,
    connectionIds,
    devices,
    workspaceId,
    async startPoller(overrides = {}, extra = {}) {
      const poller = await startPoller({
        config: pollerConfig(testKafka, sim.url, {
          CREDENTIALS_ENCRYPTION_KEY: FIXTURE_ENCRYPTION_KEY_HEX,
          ...overrides,
        }),
        logger,
        ...extra,
      });
      pollers.push(poller);
      return poller;
    },
    async waitForDevice(deviceId) {
      await waitFor(() => api.view.devices.has(deviceId), {
        timeoutMs: 30_000,
        what: `the API to learn device ${deviceId}`,
      });
    },
    post,
    get,
    async stop() {
      await Promise.all(pollers.map((poller) => poller.stop()));
      await api.stop();
      await sim.stop();
    },
  };
}

/** The body of POST /connections for a simulated account (its id kept, as the CLI does). */
export function connectionBody(account: SimAccount) {
  return {
    oem: account.oem,
    id: `sim-${account.accountId}`,
    customerId: account.customer.id,
    siteId: account.site.id,
    credentials: {
      clientId: account.clientId,
      clientSecret: account.clientSecret,
      ...(account.apiKey ? { apiKey: account.apiKey } : {}),
      refreshToken: account.refreshToken,
    },
  };
}

function deviceOf(accounts: SimAccount[], oem: Oem): string {
  const account = accounts.find((candidate) => candidate.oem === oem);
  return account ? `${oem}:${account.siteIds[0]}` : '';
}

/** Every message of `topic` as stored (no decoding, no decryption), in a group of its own. */
export async function readRawTopic(testKafka: TestKafka, topic: string): Promise<KafkaMessage[]> {
  const offsets = await testKafka.admin.fetchTopicOffsets(topic);
  const pending = new Map(
    offsets
      .filter((entry) => Number(entry.high) > Number(entry.low))
      .map((entry) => [entry.partition, Number(entry.high)]),
  );
  const messages: KafkaMessage[] = [];
  if (pending.size === 0) return messages;
  const consumer = testKafka.kafka.consumer({
    groupId: `${testKafka.config.topicPrefix}.raw.${Math.random().toString(16).slice(2)}`,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          messages.push(...batch.messages);
          const end = pending.get(batch.partition);
          if (end !== undefined && Number(batch.lastOffset()) + 1 >= end) {
            pending.delete(batch.partition);
          }
          if (pending.size === 0) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  // One key's revisions share a partition, so they are in offset order here.
  return messages;
}

/** An in-memory logger that also keeps the raw JSON lines (duplicate keys included). */
export function createRawMemoryLogger(): {
  logger: Logger;
  raw: () => string[];
  lines: () => Array<Record<string, unknown>>;
} {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ service: 'poller', level: 'trace', destination });
  const raw = () => chunks.join('').split('\n').filter(Boolean);
  return {
    logger,
    raw,
    lines: () => raw().map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
