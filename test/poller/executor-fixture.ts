import type { AdminApiHandle } from '../../services/admin-api/admin-api';
import { startAdminApi } from '../../services/admin-api/admin-api';
import { hashApiKey } from '../../services/admin-api/auth';
import type { Logger } from '../../services/common/logger';
import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimAccount, SimulatorHandle } from '../../services/oem-simulator/types';
import type { Oem } from '../../services/poller/config';
import { startPoller, type PollerHandle, type PollerOptions } from '../../services/poller/poller';
import { adminConfig, http, type HttpResult } from '../admin-api/support';
import { waitFor, type TestKafka } from '../support/kafka';
import { pollerConfig } from './support';

export const FIXTURE_API_KEY = 'poller-commands-key-0123456789';
/** The key the admin API encrypts connections with (CREDENTIALS_ENCRYPTION_KEY), as hex. */
export const FIXTURE_ENCRYPTION_KEY_HEX = '07'.repeat(32);

export interface ExecutorFixture {
  sim: SimulatorHandle;
  api: AdminApiHandle;
  /** Connection id per simulated account id, as the API created them. */
  connectionIds: Map<string, string>;
  /** One device id per OEM (the first site of its first account). */
  devices: Record<Oem, string>;
  workspaceId: string;
  /** Starts a poller replica with the fixture's config (key included unless overridden). */
  startPoller(
    overrides?: Record<string, string>,
    extra?: Partial<Omit<PollerOptions, 'config'>>,
  ): Promise<PollerHandle>;
  /** The API knows `deviceId` (a poller wrote its state), so commands to it are PENDING. */
  waitForDevice(deviceId: string): Promise<void>;
  post(url: string, payload?: unknown): Promise<HttpResult>;
  get(url: string): Promise<HttpResult>;
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
  if (accounts.some((account) => account.workspaceId !== workspaceId)) {
    throw new Error('fixture expects one workspace across the simulated accounts');
  }

  const api = await startAdminApi({
    config: adminConfig(testKafka, {
      apiKeys: [{ workspaceId, sha256: hashApiKey(FIXTURE_API_KEY) }],
      credentialsKey: { id: 'k1', key: Buffer.from(FIXTURE_ENCRYPTION_KEY_HEX, 'hex') },
    }),
    logger,
  });
  const headers = { authorization: `Bearer ${FIXTURE_API_KEY}` };
  const post = (url: string, payload?: unknown) =>
    http(api.url, { method: 'POST', url, payload, headers });
  const get = (url: string) => http(api.url, { method: 'GET', url, headers });

  const connectionIds = new Map<string, string>();
  for (const account of accounts) {
    const res = await post('/connections', connectionBody(account));
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
