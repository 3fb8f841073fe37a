import { createMemoryLogger, waitFor } from '../support/kafka';
import { makeFleetHistory } from './fleet';
import {
  computeExpected,
  findKeyMiscounts,
  metricValue,
  produceSamples,
  readEvents,
  setUpDifferKafka,
  startTestDiffer,
} from './harness';

describe('differ replicas', () => {
  let testKafka: Awaited<ReturnType<typeof setUpDifferKafka>>;

  beforeAll(async () => {
    testKafka = await setUpDifferKafka(3);
  });
  afterAll(async () => {
    await testKafka.close();
  });

  test('when one of two replicas leaves, the survivor restores its partitions and emits nothing spurious', async () => {
    const devices = 60;
    const firstRound = makeFleetHistory(devices, 2, 0);
    const secondRound = makeFleetHistory(devices, 2, 2);
    const thirdRound = makeFleetHistory(devices, 4, 4);
    const expected = computeExpected([...firstRound, ...secondRound, ...thirdRound]);
    const discoveredCount = expected.events.filter((e) => e.type === 'device.discovered').length;
    expect(discoveredCount).toBe(devices);

    const { logger } = createMemoryLogger('differ');
    const a = await startTestDiffer(testKafka, logger.child({ replica: 'a' }));
    const b = await startTestDiffer(testKafka, logger.child({ replica: 'b' }));
    try {
      await waitFor(() => a.differ.isReady() && b.differ.isReady(), {
        what: 'both replicas ready',
      });
      await waitFor(
        () => a.differ.assignedPartitions().length > 0 && b.differ.assignedPartitions().length > 0,
        { what: 'partitions split between the replicas' },
      );

      await produceSamples(testKafka, firstRound);
      await readEvents(testKafka, computeExpected(firstRound).events.length);
      await produceSamples(testKafka, secondRound);
      await readEvents(testKafka, computeExpected([...firstRound, ...secondRound]).events.length);

      const leaverPartitions = b.differ.assignedPartitions();
      await b.differ.stop();
      await waitFor(() => a.differ.assignedPartitions().length === 3 && a.differ.isReady(), {
        what: 'survivor owning every partition',
      });
      expect(a.differ.storeSize()).toBe(devices);

      await produceSamples(testKafka, thirdRound);
      const events = await readEvents(testKafka, expected.events.length, { quietMs: 1500 });

      expect(findKeyMiscounts(expected.events, events)).toEqual({});
      expect(events.filter((e) => e.type === 'device.discovered')).toHaveLength(devices);
      expect(leaverPartitions.length).toBeGreaterThan(0);
      expect(
        await metricValue(a.registry, 'gridpulse_differ_restore_duration_seconds_count'),
      ).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all([a.differ.stop(), b.differ.stop()]);
    }
  });
});
