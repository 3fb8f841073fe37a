import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
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

  // In a process of its own: jest gives each test file a copy of `process` whose 'warning'
  // listeners Node's own emitWarning does not reach.
  it("drops Node 24's warning about kafkajs' negative delay, and only that one", async () => {
    const script = `
      import('./services/common/kafka.ts').then(() => {
        const seen = [];
        process.on('warning', (w) => seen.push(w.name + ': ' + w.message));
        process.emitWarning(-Date.now() + ' is a negative number.', 'TimeoutNegativeWarning');
        process.emitWarning('-5 is a negative number.', { type: 'TimeoutNegativeWarning' });
        process.emitWarning('something else', 'ExperimentalWarning');
        setImmediate(() => console.log(JSON.stringify(seen)));
      });`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--no-warnings', '--import', 'tsx', '-e', script],
      { cwd: path.join(__dirname, '../..') },
    );
    expect(JSON.parse(stdout)).toEqual([
      'TimeoutNegativeWarning: -5 is a negative number.',
      'ExperimentalWarning: something else',
    ]);
  });
});
