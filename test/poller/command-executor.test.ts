import type { AdminApiHandle } from '../../services/admin-api/admin-api';
import { hashApiKey } from '../../services/admin-api/auth';
import type { EventRecord } from '../../services/common/events';
import type { SimulatorHandle } from '../../services/oem-simulator/types';
import type { Oem } from '../../services/poller/config';
import type { Connection } from '../../services/poller/connection';
import type { OemHttpClient } from '../../services/poller/oem-http';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import { startExecutorFixture, type ExecutorFixture } from './executor-fixture';
import {
  bodyOf,
  collectTopic,
  describeShape,
  http,
  readSeed,
  startTestApi,
  setUpTestKafkaRetrying,
} from './support';

const KEY = 'executor-test-key-0123456789';

describe('command executor', () => {
  let testKafka: TestKafka;
  let sim: SimulatorHandle;
  let api: AdminApiHandle;
  let fixture: ExecutorFixture;
  let clients: Record<Oem, OemHttpClient>;
  let events: Awaited<ReturnType<typeof collectTopic<EventRecord>>>;
  let connections: Map<string, Connection>;
  let devices: Record<Oem, string>;
  const memory = createMemoryLogger('poller');
  let workspaceId = '';

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({
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
    fixture = await startExecutorFixture(testKafka, memory.logger);
    ({ sim, clients, connections, devices, workspaceId } = fixture);
    api = await startTestApi(testKafka, createMemoryLogger('admin-api').logger, {
      apiKeys: [{ workspaceId, sha256: hashApiKey(KEY) }],
    });
    events = await collectTopic<EventRecord>(testKafka, testKafka.topics['events.v1']);
  }, 60_000);

  afterAll(async () => {
    await events?.stop();
    await api?.stop();
    await fixture?.stop();
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
