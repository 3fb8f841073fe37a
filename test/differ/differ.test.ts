import type { EventRecord } from '../../services/common/events';
import { createMemoryLogger, waitFor } from '../support/kafka';
import { MINUTE, T0, makeOffline, makeSample, makeState } from './samples';
import {
  metricValue,
  produceSamples,
  readEvents,
  readSnapshots,
  setUpDifferKafka,
  startTestDiffer,
} from './harness';

describe('differ', () => {
  let testKafka: Awaited<ReturnType<typeof setUpDifferKafka>>;

  beforeAll(async () => {
    testKafka = await setUpDifferKafka(3);
  });
  afterAll(async () => {
    await testKafka.close();
  });

  test('turns device-state records into device events and snapshots through Kafka', async () => {
    const devices = ['tesla:a', 'tesla:b', 'tesla:c', 'tesla:d'];
    const samples = devices.flatMap((deviceId) => [
      makeSample(T0, {}, deviceId),
      makeSample(T0 + 5 * MINUTE, { state: makeState(T0 + 5 * MINUTE - 1000) }, deviceId), // unchanged
      makeSample(
        T0 + 10 * MINUTE,
        { state: makeState(T0 + 10 * MINUTE - 1000, { chargePercentage: 80 }) },
        deviceId,
      ),
      makeSample(
        T0 + 10 * MINUTE,
        { state: makeState(T0 + 10 * MINUTE - 1000, { chargePercentage: 80 }) },
        deviceId,
      ), // duplicate
      makeOffline(T0 + 15 * MINUTE, 'OFFLINE', deviceId),
      makeOffline(T0 + 20 * MINUTE, 'OFFLINE', deviceId),
      makeOffline(T0 + 25 * MINUTE, 'OFFLINE', deviceId),
      makeOffline(T0 + 30 * MINUTE, 'OFFLINE', deviceId),
    ]);
    await produceSamples(testKafka, samples);

    const { logger } = createMemoryLogger('differ');
    const { differ, registry } = await startTestDiffer(testKafka, logger);
    try {
      // Per device: discovered, updated (first state), updated (80 %), disconnected.
      const events = await readEvents(testKafka, devices.length * 4);
      expect(events).toHaveLength(devices.length * 4);
      for (const deviceId of devices) {
        const types = events
          .filter((event) => event.deviceId === deviceId)
          .map((event) => event.type);
        expect(types).toEqual([
          'device.discovered',
          'device.updated',
          'device.updated',
          'device.disconnected',
        ]);
      }
      const event = events[0] as EventRecord;
      expect(event).toMatchObject({
        version: '1.0.0',
        deviceType: 'battery',
        workspaceId: 'cllzcf9xe00066g7dcsxyq1e5',
      });
      expect(event.key).toMatch(/^[0-9a-f]{64}$/);

      const snapshots = await readSnapshots(testKafka, devices.length);
      for (const deviceId of devices) {
        expect(snapshots.get(deviceId)).toMatchObject({
          status: 'DISCONNECTED',
          firstSeenAt: T0,
          lastPolledAt: T0 + 25 * MINUTE,
        });
      }

      await waitFor(
        async () => (await metricValue(registry, 'gridpulse_differ_records_in_total')) > 0,
        {
          what: 'metrics',
        },
      );
      expect(
        await metricValue(registry, 'gridpulse_differ_events_out_total', {
          type: 'device.disconnected',
        }),
      ).toBe(4);
      expect(
        await metricValue(registry, 'gridpulse_differ_suppressed_updates_total', {
          reason: 'stale',
        }),
      ).toBe(4);
      expect(
        await metricValue(registry, 'gridpulse_differ_suppressed_updates_total', {
          reason: 'unchanged',
        }),
      ).toBe(4);
      expect(differ.storeSize()).toBe(devices.length);
      expect(differ.isReady()).toBe(true);
    } finally {
      await differ.stop();
    }
  });
});
