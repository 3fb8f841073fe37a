import type { DeviceState } from '../../services/common/device-state';
import type { PollerHandle } from '../../services/poller/poller';
import { setUpTestKafkaRetrying } from '../admin-api/support';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import { COMMAND_TOPICS, startExecutorFixture, type ExecutorFixture } from './executor-fixture';
import { registerAccounts } from './support';

describe('encrypted connections', () => {
  let testKafka: TestKafka;
  let fixture: ExecutorFixture;
  let poller: PollerHandle;
  const records: DeviceState[] = [];
  const memory = createMemoryLogger('poller');

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({ partitions: 3, only: COMMAND_TOPICS });
    // Two Tesla accounts created through the API, so encrypted under the API's key.
    fixture = await startExecutorFixture(testKafka, memory.logger, { tesla: 3, enphase: 0 });
  }, 60_000);

  afterAll(async () => {
    await fixture?.stop();
    await testKafka?.close();
  });

  it('skips connections it cannot decrypt with a coded error logged once each, and polls the others', async () => {
    const [plain, ...encrypted] = fixture.sim.accounts();
    // One connection in the clear, written the way `connections add` does (no key).
    await registerAccounts(testKafka, [plain!]);
    const plainId = `sim-${plain!.accountId}`;
    const encryptedIds = encrypted.map((account) => fixture.connectionIds.get(account.accountId)!);

    poller = await fixture.startPoller(
      { CREDENTIALS_ENCRYPTION_KEY: 'ab'.repeat(32) },
      { onRecords: (batch) => records.push(...batch) },
    );
    await waitFor(() => records.some((r) => r.deviceId === `tesla:${plain!.siteIds[0]}`), {
      timeoutMs: 20_000,
      what: 'the clear connection polled',
    });
    // A few more cycles: the skipped ones must still produce nothing, and log no more.
    await new Promise((resolve) => setTimeout(resolve, 4_000));

    const skippedDevices = encrypted.map((account) => `tesla:${account.siteIds[0]}`);
    expect(records.filter((r) => skippedDevices.includes(r.deviceId))).toEqual([]);
    expect(poller.ownedConnectionIds()).toEqual([plainId]);

    const logged = memory.lines().filter((line) => line.msg === 'connection not pollable');
    expect(logged.map((line) => line.connectionId).sort()).toEqual([...encryptedIds].sort());
    for (const line of logged) {
      expect(line).toMatchObject({
        level: 'error',
        reason: 'authentication_failed',
        err: { code: 'GP_CREDENTIALS_UNDECRYPTABLE' },
      });
    }
    const rejected = (await poller.metrics.connectionsRejected.get()).values;
    expect(rejected.find((v) => v.labels.reason === 'authentication_failed')?.value).toBe(
      encryptedIds.length,
    );

    const text = JSON.stringify(memory.lines());
    for (const account of fixture.sim.accounts()) {
      expect(text).not.toContain(account.refreshToken);
      expect(text).not.toContain(account.clientSecret);
    }
  });
});
