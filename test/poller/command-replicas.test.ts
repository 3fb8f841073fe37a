import type { CommandRecord } from '../../services/admin-api/records';
import type { PollerHandle } from '../../services/poller/poller';
import { setUpTestKafkaRetrying } from '../admin-api/support';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import { COMMAND_TOPICS, startExecutorFixture, type ExecutorFixture } from './executor-fixture';

describe('commands with two poller replicas', () => {
  let testKafka: TestKafka;
  let fixture: ExecutorFixture;
  const replicas: Array<{ name: string; poller: PollerHandle; results: CommandRecord[] }> = [];

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({ partitions: 3, only: COMMAND_TOPICS });
    fixture = await startExecutorFixture(testKafka, createMemoryLogger('poller').logger, {
      tesla: 3,
      enphase: 3,
    });
    for (const name of ['a', 'b']) {
      const results: CommandRecord[] = [];
      const poller = await fixture.startPoller(
        {},
        { onCommandResult: (command) => results.push(command) },
      );
      replicas.push({ name, poller, results });
    }
  }, 90_000);

  afterAll(async () => {
    await fixture?.stop();
    await testKafka?.close();
  });

  it('runs every command on the replica that polls its connection, without ownership waits', async () => {
    const total = fixture.connectionIds.size;
    const owned = () => replicas.map((replica) => replica.poller.ownedConnectionIds());
    await waitFor(() => owned().every((ids) => ids.length > 0) && owned().flat().length === total, {
      timeoutMs: 30_000,
      what: 'both replicas sharing every connection',
    });
    const devices = fixture.sim
      .accounts()
      .map((account) => ({ account, deviceId: `${account.oem}:${account.siteIds[0]}` }));
    for (const { deviceId } of devices) await fixture.waitForDevice(deviceId);
    const ownerBefore = new Map(
      replicas.flatMap((replica) =>
        replica.poller.ownedConnectionIds().map((id) => [id, replica.name] as const),
      ),
    );

    const sentAt = Date.now();
    const ids = await Promise.all(
      devices.map(async ({ account, deviceId }, index) => {
        const body = { backupReserve: 20 + index };
        const res = await fixture.post(`/devices/${deviceId}/commands`, body, account.workspaceId);
        expect(res.statusCode).toBe(202);
        return res.json().id as string;
      }),
    );
    const results = () => replicas.flatMap((replica) => replica.results);
    await waitFor(() => ids.every((id) => results().some((r) => r.commandId === id)), {
      timeoutMs: 20_000,
      what: 'every command to have a result',
    });
    const elapsedMs = Date.now() - sentAt;

    for (const replica of replicas) {
      for (const result of replica.results) {
        expect({ commandId: result.commandId, status: result.status }).toEqual({
          commandId: result.commandId,
          status: 'SUCCEEDED',
        });
        // Run where the connection is polled (the owners did not move meanwhile).
        expect(ownerBefore.get(result.connectionId!)).toBe(replica.name);
        expect(replica.poller.ownedConnectionIds()).toContain(result.connectionId);
      }
    }
    expect(replicas.every((replica) => replica.results.length > 0)).toBe(true);
    expect(results()).toHaveLength(ids.length);
    // The old executor waited 30 s for a connection owned elsewhere before failing.
    expect(elapsedMs).toBeLessThan(15_000);
  });
});
