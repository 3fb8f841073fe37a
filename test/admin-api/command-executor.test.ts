import { Registry } from 'prom-client';
import type { AdminApiHandle } from '../../services/admin-api/admin-api';
import { hashApiKey } from '../../services/admin-api/auth';
import {
  startCommandExecutor,
  type CommandExecutorHandle,
} from '../../services/admin-api/command-executor';
import { createAvroSerde } from '../../services/common/avro';
import type { EventRecord } from '../../services/common/events';
import { consumerGroupId } from '../../services/common/topics';
import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimulatorHandle } from '../../services/oem-simulator/types';
import { OEMS, type Oem } from '../../services/poller/config';
import type { Connection } from '../../services/poller/connection';
import { connectionFromSimAccount } from '../../services/poller/connection-registration';
import { buildDeviceState, DEVICE_STATE_SCHEMA } from '../../services/poller/device-state';
import { createPollerMetrics } from '../../services/poller/metrics';
import { createOemHttpClient, type OemHttpClient } from '../../services/poller/oem-http';
import { createTokenManager } from '../../services/poller/token-manager';
import { pollerConfig } from '../poller/support';
import { createMemoryLogger, setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';
import { bodyOf, collectTopic, describeShape, http, readSeed, startTestApi } from './support';

const KEY = 'executor-test-key-0123456789';

describe('command executor', () => {
  let testKafka: TestKafka;
  let sim: SimulatorHandle;
  let api: AdminApiHandle;
  let executor: CommandExecutorHandle;
  let clients: Record<Oem, OemHttpClient>;
  let events: Awaited<ReturnType<typeof collectTopic<EventRecord>>>;
  const connections = new Map<string, Connection>();
  const devices: Record<Oem, string> = { tesla: '', enphase: '' };
  const memory = createMemoryLogger('poller');
  let workspaceId = '';

  beforeAll(async () => {
    testKafka = await setUpTestKafka({
      partitions: 3,
      only: [
        'customers.v1',
        'sites.v1',
        'enrollments.v1',
        'commands.v1',
        'connections.v1',
        'events.v1',
        'destinations.v1',
        'device-state.v1',
      ],
    });
    sim = await startSimulator({ port: 0, seed: 11, fleet: { tesla: 1, enphase: 1 } });
    const config = pollerConfig(testKafka, sim.url);

    // What the poller would have written: one device-state record per simulated battery.
    const serde = createAvroSerde(testKafka.config);
    const producer = testKafka.kafka.producer();
    await producer.connect();
    for (const account of sim.accounts()) {
      const connection = connectionFromSimAccount(account);
      connections.set(connection.connectionId, connection);
      const oem = account.oem as Oem;
      devices[oem] = `${oem}:${account.siteIds[0]}`;
      workspaceId = account.workspaceId;
      const identity = {
        deviceId: devices[oem],
        manufacturer: { slug: oem, displayName: oem },
        deviceModel: { slug: `${oem}:battery`, displayName: 'Battery' },
        deviceType: 'battery',
        tags: ['battery'],
        createdAt: null,
      };
      const record = buildDeviceState(connection, identity, 'OFFLINE', Date.now(), null);
      const value = await serde.encode(
        testKafka.topics['device-state.v1'],
        DEVICE_STATE_SCHEMA,
        record,
      );
      await producer.send({
        topic: testKafka.topics['device-state.v1'],
        messages: [{ key: record.deviceId, value }],
      });
    }
    await producer.disconnect();
    expect(new Set(sim.accounts().map((a) => a.workspaceId)).size).toBe(1);

    api = await startTestApi(testKafka, createMemoryLogger('admin-api').logger, {
      apiKeys: [{ workspaceId, sha256: hashApiKey(KEY) }],
    });

    // The poller's own OEM clients and token manager, as the poller would pass them in.
    const metrics = createPollerMetrics(new Registry());
    clients = Object.fromEntries(
      OEMS.map((oem) => [
        oem,
        createOemHttpClient({
          oem,
          config: config.http,
          circuit: config.circuit,
          metrics,
          logger: memory.logger,
        }),
      ]),
    ) as Record<Oem, OemHttpClient>;
    const tokens = createTokenManager({
      config,
      clients,
      metrics,
      logger: memory.logger,
      connections: {
        get: (id) => connections.get(id),
        // The poller writes rotated tokens to connections.v1; here the map is the store.
        persist: async (connection) => void connections.set(connection.connectionId, connection),
      },
    });
    executor = await startCommandExecutor({
      kafka: testKafka.kafka,
      serde,
      topics: testKafka.topics,
      groupId: consumerGroupId('poller.commands', testKafka.config.topicPrefix),
      logger: memory.logger,
      ownershipWaitMs: 1000,
      access: {
        connection: (id) => connections.get(id),
        clients,
        tokens,
        apiUrls: { tesla: config.oems.tesla.apiUrl, enphase: config.oems.enphase.apiUrl },
      },
    });
    events = await collectTopic<EventRecord>(testKafka, testKafka.topics['events.v1']);
  }, 60_000);

  afterAll(async () => {
    await events?.stop();
    await executor?.stop();
    await api?.stop();
    await Promise.all(Object.values(clients ?? {}).map((client) => client.close()));
    await sim?.stop();
    await testKafka?.close();
  });

  async function sendCommand(deviceId: string, body: object) {
    const res = await http(api.url, {
      method: 'POST',
      url: `/devices/${deviceId}/commands`,
      headers: { authorization: `Bearer ${KEY}` },
      payload: body,
    });
    expect(res.statusCode).toBe(202);
    expect(res.json().status).toBe('pending');
    return res.json().id as string;
  }

  async function finalStatus(commandId: string) {
    let body:
      | {
          status: string;
          error: { message: string } | null;
          issuedAt: string;
          executedAt: string | null;
        }
      | undefined;
    await waitFor(
      async () => {
        body = (
          await http(api.url, {
            method: 'GET',
            url: `/commands/${commandId}`,
            headers: { authorization: `Bearer ${KEY}` },
          })
        ).json();
        return body!.status !== 'pending';
      },
      { timeoutMs: 20_000, what: `command ${commandId} to finish` },
    );
    return body!;
  }

  async function eventFor(commandId: string): Promise<EventRecord> {
    const find = () =>
      events.records.find((r) => r.value && JSON.parse(r.value.data).commandId === commandId)
        ?.value;
    await waitFor(() => find() !== undefined, { timeoutMs: 15_000, what: 'command event' });
    return find()!;
  }

  test('runs a backup reserve command on the simulated Tesla and emits command.succeeded', async () => {
    const commandId = await sendCommand(devices.tesla, { backupReserve: 42 });
    const result = await finalStatus(commandId);
    expect(result).toMatchObject({ status: 'succeeded', error: null });
    expect(Date.parse(result.executedAt!)).toBeGreaterThanOrEqual(Date.parse(result.issuedAt));

    const event = await eventFor(commandId);
    expect(event.type).toBe('command.succeeded');
    expect(describeShape(bodyOf(event))).toEqual(describeShape(readSeed('command.succeeded')));
    expect(event.version).toBe('0.0.2');
    expect(JSON.parse(event.data)).toMatchObject({
      workspaceId,
      commandId,
      deviceId: devices.tesla,
      issuedAt: result.issuedAt,
      executedAt: result.executedAt,
    });

    // The simulated site now reports the new reserve.
    const token = await (async () => {
      const connectionId = [...connections.values()].find((c) => c.oem === 'tesla')!.connectionId;
      return connections.get(connectionId)!.credentials.accessToken!;
    })();
    const siteId = devices.tesla.split(':')[1];
    const info = await clients.tesla.send({
      method: 'GET',
      url: `${sim.url}/tesla/api/1/energy_sites/${siteId}/site_info`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(JSON.parse(info.body).response.backup_reserve_percent).toBe(42);
  });

  test('runs operating mode and storm mode commands on the simulated Enphase system', async () => {
    const mode = await finalStatus(await sendCommand(devices.enphase, { operatingMode: 'backup' }));
    const storm = await finalStatus(await sendCommand(devices.enphase, { stormMode: true }));
    expect(mode.status).toBe('succeeded');
    expect(storm.status).toBe('succeeded');
  });

  test('a command the simulator refuses ends as command.failed with the OEM’s message', async () => {
    sim.setFaults({ devices: { [devices.tesla]: { offline: 1 } } });
    try {
      const commandId = await sendCommand(devices.tesla, { stormMode: false });
      const result = await finalStatus(commandId);
      expect(result.status).toBe('failed');
      expect(result.error!.message).toMatch(/^device offline/);

      const event = await eventFor(commandId);
      expect(event.type).toBe('command.failed');
      expect(describeShape(bodyOf(event))).toEqual(describeShape(readSeed('command.failed')));
      expect(JSON.parse(event.data).error).toEqual({ message: result.error!.message });
    } finally {
      sim.setFaults({});
    }
  });

  test('a command whose connection this poller does not own fails instead of vanishing', async () => {
    const tesla = [...connections.values()].find((c) => c.oem === 'tesla')!;
    connections.delete(tesla.connectionId);
    try {
      const result = await finalStatus(await sendCommand(devices.tesla, { backupReserve: 10 }));
      expect(result).toMatchObject({
        status: 'failed',
        error: { message: 'connection not owned by this poller' },
      });
    } finally {
      connections.set(tesla.connectionId, tesla);
    }
  });

  test('logs no token or client secret', () => {
    const text = JSON.stringify(memory.lines());
    for (const connection of connections.values()) {
      for (const value of [
        connection.credentials.accessToken,
        connection.credentials.refreshToken,
        connection.credentials.clientSecret,
      ]) {
        if (value) expect(text).not.toContain(value);
      }
    }
    expect(memory.lines().some((line) => line.msg === 'command finished')).toBe(true);
  });
});
