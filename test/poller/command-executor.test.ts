import { createAvroSerde } from '../../services/common/avro';
import { decryptCredentials } from '../../services/common/credentials-crypto';
import type { EventRecord } from '../../services/common/events';
import type { ConnectionRecord } from '../../services/poller/connection';
import type { DeviceState } from '../../services/common/device-state';
import type { PollerHandle } from '../../services/poller/poller';
import {
  bodyOf,
  collectTopic,
  describeShape,
  readSeed,
  setUpTestKafkaRetrying,
} from '../admin-api/support';
import { waitFor, type TestKafka } from '../support/kafka';
import {
  COMMAND_TOPICS,
  createRawMemoryLogger,
  FIXTURE_ENCRYPTION_KEY_HEX,
  readRawTopic,
  startExecutorFixture,
  type ExecutorFixture,
} from './executor-fixture';

describe('command executor (in the poller)', () => {
  let testKafka: TestKafka;
  let fixture: ExecutorFixture;
  let poller: PollerHandle;
  let events: Awaited<ReturnType<typeof collectTopic<EventRecord>>>;
  const states: DeviceState[] = [];
  const memory = createRawMemoryLogger();

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({ partitions: 3, only: COMMAND_TOPICS });
    fixture = await startExecutorFixture(testKafka, memory.logger);
    poller = await fixture.startPoller({}, { onRecords: (batch) => states.push(...batch) });
    await fixture.waitForDevice(fixture.devices.tesla);
    await fixture.waitForDevice(fixture.devices.enphase);
    events = await collectTopic<EventRecord>(testKafka, testKafka.topics['events.v1']);
  }, 90_000);

  afterAll(async () => {
    await events?.stop();
    await fixture?.stop();
    await testKafka?.close();
  });

  async function sendCommand(deviceId: string, body: object): Promise<string> {
    const res = await fixture.post(`/devices/${deviceId}/commands`, body);
    expect(res.statusCode).toBe(202);
    expect(res.json().status).toBe('pending');
    return res.json().id as string;
  }

  async function finalStatus(commandId: string) {
    let body:
      | { status: string; error: { message: string } | null; issuedAt: string; executedAt: string }
      | undefined;
    await waitFor(
      async () => {
        body = (await fixture.get(`/commands/${commandId}`)).json();
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

  test('polls an API-created connection and writes its rotated refresh token back encrypted', async () => {
    const account = fixture.sim.accounts().find((candidate) => candidate.oem === 'tesla')!;
    const connectionId = fixture.connectionIds.get(account.accountId)!;
    const raw = await readRawTopic(testKafka, testKafka.topics['connections.v1']);
    const revisions = raw.filter((message) => message.key?.toString() === connectionId);
    const serde = createAvroSerde(testKafka.config);
    const records = await Promise.all(
      revisions.map((message) => serde.decode<ConnectionRecord>(message.value!)),
    );

    // The API's revision and at least one the poller wrote after refreshing the token.
    expect(records.length).toBeGreaterThanOrEqual(2);
    expect(records.map((record) => record.credentialsFormat)).toEqual(
      records.map(() => 'aes-256-gcm:k1'),
    );
    const latest = records.at(-1)!;
    expect(latest.updatedAt).toBeGreaterThan(records[0]!.updatedAt);

    // The token the simulator accepts now is in the latest revision, and nowhere in the clear.
    const current = fixture.sim.accounts().find((a) => a.accountId === account.accountId)!;
    const key = { id: 'k1', key: Buffer.from(FIXTURE_ENCRYPTION_KEY_HEX, 'hex') };
    const plaintext = decryptCredentials(
      latest.credentialsFormat,
      latest.credentials,
      connectionId,
      key,
    );
    expect(JSON.parse(plaintext.toString('utf8')).refreshToken).toBe(current.refreshToken);
    const bytes = Buffer.concat(raw.map((message) => message.value ?? Buffer.alloc(0)));
    expect(bytes.includes(current.refreshToken)).toBe(false);
    expect(bytes.includes(account.clientSecret)).toBe(false);
    expect(poller.ownedConnectionIds()).toContain(connectionId);
  });

  test('runs a backup reserve command on the simulated Tesla and emits command.succeeded', async () => {
    const commandId = await sendCommand(fixture.devices.tesla, { backupReserve: 42 });
    const result = await finalStatus(commandId);
    expect(result).toMatchObject({ status: 'succeeded', error: null });
    expect(Date.parse(result.executedAt)).toBeGreaterThanOrEqual(Date.parse(result.issuedAt));

    const event = await eventFor(commandId);
    expect(event.type).toBe('command.succeeded');
    expect(describeShape(bodyOf(event))).toEqual(describeShape(readSeed('command.succeeded')));
    expect(event.version).toBe('0.0.2');
    expect(JSON.parse(event.data)).toMatchObject({
      workspaceId: fixture.workspaceId,
      commandId,
      deviceId: fixture.devices.tesla,
      issuedAt: result.issuedAt,
      executedAt: result.executedAt,
    });

    // The simulated site now reports the new reserve, as the poller's next cycle reads it.
    const executedAt = Date.parse(result.executedAt);
    await waitFor(
      () =>
        states.some(
          (s) =>
            s.deviceId === fixture.devices.tesla &&
            s.polledAt > executedAt &&
            s.state?.backupReserve === 42,
        ),
      { timeoutMs: 15_000, what: 'a polled backup reserve of 42' },
    );
  });

  test('runs operating mode and storm mode commands on the simulated Enphase system (PUT)', async () => {
    const mode = await finalStatus(
      await sendCommand(fixture.devices.enphase, { operatingMode: 'backup' }),
    );
    const storm = await finalStatus(
      await sendCommand(fixture.devices.enphase, { stormMode: true }),
    );
    expect(mode.status).toBe('succeeded');
    expect(storm.status).toBe('succeeded');
    const executedAt = Date.parse(storm.executedAt);
    await waitFor(
      () =>
        states.some(
          (s) =>
            s.deviceId === fixture.devices.enphase &&
            s.polledAt > executedAt &&
            s.state?.isStormModeEnabled === true,
        ),
      { timeoutMs: 15_000, what: 'storm guard enabled on the polled Enphase system' },
    );
  });

  test('a command the simulator refuses ends as command.failed with the OEM’s message', async () => {
    fixture.sim.setFaults({ devices: { [fixture.devices.tesla]: { offline: 1 } } });
    try {
      const commandId = await sendCommand(fixture.devices.tesla, { stormMode: false });
      const result = await finalStatus(commandId);
      expect(result.status).toBe('failed');
      expect(result.error!.message).toMatch(/^device offline/);

      const event = await eventFor(commandId);
      expect(event.type).toBe('command.failed');
      expect(describeShape(bodyOf(event))).toEqual(describeShape(readSeed('command.failed')));
      expect(JSON.parse(event.data).error).toEqual({ message: result.error!.message });
    } finally {
      fixture.sim.setFaults({});
    }
  });

  test('logs no token or client secret, and oem/connectionId once per line', () => {
    const lines = memory.lines();
    const text = JSON.stringify(lines);
    for (const account of fixture.sim.accounts()) {
      for (const value of [account.refreshToken, account.clientSecret, account.apiKey]) {
        if (value) expect(text).not.toContain(value);
      }
    }
    expect(lines.some((line) => line.msg === 'command finished')).toBe(true);
    // JSON.parse keeps the last of duplicate keys, so the raw lines are checked.
    expect(memory.raw().length).toBeGreaterThan(0);
    for (const line of memory.raw()) {
      // An error's own context may name them again, inside `err`.
      const inErr = JSON.stringify((JSON.parse(line) as { err?: unknown }).err ?? {});
      for (const key of ['"connectionId":', '"oem":']) {
        const count = (text: string) => text.split(key).length - 1;
        expect(count(line) - count(inErr)).toBeLessThanOrEqual(1);
      }
    }
  });
});
