import { baseEnvSchema, parseEnv, toConnectivityConfig } from '../../services/common/config';
import { createKafka } from '../../services/common/kafka';
import { createMemoryLogger } from '../support/kafka';

/** kafkajs' own lines go through our logger; an operator sees warnings only when they matter. */
describe('kafkajs logging', () => {
  const config = toConnectivityConfig(
    parseEnv(baseEnvSchema, { KAFKA_BROKERS: '127.0.0.1:1' }),
    'logging-test',
  );

  function producerLines(options: Parameters<ReturnType<typeof createKafka>['producer']>[0]) {
    const { logger, lines } = createMemoryLogger('test');
    createKafka(config, logger).producer(options); // kafkajs warns at creation, no broker needed
    return lines().filter((line) => line.component === 'kafkajs');
  }

  it('keeps the expected EoS notice of an idempotent producer at debug', () => {
    const lines = producerLines({ idempotent: true, maxInFlightRequests: 1 });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'debug',
        msg: 'Limiting retries for the idempotent producer may invalidate EoS guarantees',
      }),
    ]);
  });

  it('still passes other kafkajs warnings and errors on as warnings', () => {
    const { logger, lines } = createMemoryLogger('test');
    const kafkaLogger = createKafka(config, logger).logger();
    kafkaLogger.warn('The group is rebalancing, re-joining', { groupId: 'g1' });
    kafkaLogger.error('Connection error', { broker: '127.0.0.1:1' });
    expect(
      lines().map(({ level, msg, groupId, broker }) => ({ level, msg, groupId, broker })),
    ).toEqual([
      {
        level: 'warn',
        msg: 'The group is rebalancing, re-joining',
        groupId: 'g1',
        broker: undefined,
      },
      { level: 'warn', msg: 'Connection error', groupId: undefined, broker: '127.0.0.1:1' },
    ]);
  });
});
