import { createMemoryLogger, waitFor } from '../support/kafka';
import { MINUTE, T0, makeSample, makeState } from './samples';
import type { Registry } from 'prom-client';
import { produceSamples, setUpDifferKafka, startTestDiffer } from './harness';

/** A counter's sum over all its label values (0 before its first increment). */
async function total(registry: Registry, name: string): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (metric?.values ?? []).reduce((sum, entry) => sum + entry.value, 0);
}

/**
 * Most polls of a steady fleet change nothing, and a batch that writes nothing starts its
 * transaction with AddOffsetsToTxn. The broker refuses that with CONCURRENT_TRANSACTIONS
 * while it finishes the previous transaction; the differ must wait it out, not abort.
 */
describe('differ on batches with nothing to write', () => {
  let testKafka: Awaited<ReturnType<typeof setUpDifferKafka>>;

  beforeAll(async () => {
    testKafka = await setUpDifferKafka(1);
  });
  afterAll(async () => {
    await testKafka.close();
  });

  test('commits back-to-back transactions of unchanged samples without aborting one', async () => {
    const deviceId = 'tesla:quiet';
    await produceSamples(testKafka, [makeSample(T0, {}, deviceId)]);
    const { logger, lines } = createMemoryLogger('differ');
    const { differ, registry } = await startTestDiffer(testKafka, logger, {
      partitionsConcurrently: 1,
      maxRecordsPerTransaction: 1,
    });
    try {
      const recordsIn = () => total(registry, 'gridpulse_differ_records_in_total');
      await waitFor(async () => (await recordsIn()) === 1, { what: 'the first sample' });

      // The same state again and again (stale: no event, no snapshot), one transaction per
      // record, so that each begins right after the previous one's commit.
      const repeats = 30;
      await produceSamples(
        testKafka,
        Array.from({ length: repeats }, (_, i) =>
          makeSample(T0 + (i + 1) * 5 * MINUTE, { state: makeState(T0 - 1000) }, deviceId),
        ),
      );
      await waitFor(async () => (await recordsIn()) === 1 + repeats, {
        what: 'every sample read',
        timeoutMs: 60_000,
      });

      const aborts = await total(registry, 'gridpulse_differ_transaction_aborts_total');
      const warnings = lines().filter((line) => line.level === 'warn');
      expect({ aborts, warnings: warnings.map((line) => line.msg) }).toEqual({
        aborts: 0,
        warnings: [],
      });
    } finally {
      await differ.stop();
    }
  });
});
