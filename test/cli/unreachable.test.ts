import { randomBytes } from 'node:crypto';
import { setUpTestKafka, type TestKafka } from '../support/kafka';
import { gridpulse } from '../support/cli';

/** One line on stderr, none of kafkajs' own JSON lines on either stream. */
function expectOneLineFailure(result: { code: number; stdout: string; stderr: string }) {
  expect(result.code).toBe(1);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stdout + result.stderr).not.toMatch(/"level"/);
}

describe('gridpulse commands when Kafka, topics or the registry are missing', () => {
  let testKafka: TestKafka;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({ only: ['connections.v1', 'destinations.v1'] });
    env = {
      KAFKA_BROKERS: testKafka.config.kafka.brokers.join(','),
      SCHEMA_REGISTRY_URL: testKafka.config.registry.url,
      GRIDPULSE_TOPIC_PREFIX: testKafka.config.topicPrefix,
      DISPATCHER_ALLOW_PRIVATE_URLS: 'true',
    };
  });

  afterAll(async () => {
    await testKafka.close();
  });

  it.each([[['connections', 'list']], [['destinations', 'list']], [['topics']]])(
    '%j names the unreachable brokers and KAFKA_BROKERS',
    async (args) => {
      const result = await gridpulse(args, { ...env, KAFKA_BROKERS: '127.0.0.1:1' });

      expectOneLineFailure(result);
      expect(result.stderr).toMatch(/cannot reach Kafka at 127\.0\.0\.1:1 .*KAFKA_BROKERS/);
      expect(result.stderr).toMatch(/ \(GP_KAFKA_UNREACHABLE\)\n$/);
    },
  );

  it.each([
    [['connections', 'list'], 'connections.v1'],
    [['destinations', 'list'], 'destinations.v1'],
  ])('%j names the missing topic and `gridpulse topics`', async (args, topic) => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const result = await gridpulse(args, { ...env, GRIDPULSE_TOPIC_PREFIX: prefix });

    expectOneLineFailure(result);
    expect(result.stderr).toContain(`topic ${prefix}.${topic} does not exist`);
    expect(result.stderr).toContain('`gridpulse topics`');
    expect(result.stderr).toMatch(/ \(GP_TOPIC_MISSING\)\n$/);
  });

  it('destinations list names the unreachable registry and SCHEMA_REGISTRY_URL', async () => {
    const created = await gridpulse(
      ['destinations', 'create', '--url', 'http://127.0.0.1:9/hooks'],
      env,
    );
    expect(created).toMatchObject({ code: 0 });

    const result = await gridpulse(['destinations', 'list'], {
      ...env,
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1/x',
    });

    expectOneLineFailure(result);
    expect(result.stderr).toMatch(
      /cannot reach the schema registry at http:\/\/127\.0\.0\.1:1\/x .*SCHEMA_REGISTRY_URL/,
    );
    expect(result.stderr).toMatch(/ \(GP_REGISTRY_UNAVAILABLE\)\n$/);
  });

  it('connections add and list name the unreachable registry and SCHEMA_REGISTRY_URL', async () => {
    const add = ['connections', 'add', '--oem', 'tesla', '--workspace', 'w'];
    add.push('--organization', 'o', '--customer', 'c', '--site', 's', '--refresh-token', 'rt');
    expect(await gridpulse(add, env)).toMatchObject({ code: 0 });
    const badRegistry = { ...env, SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1/x' };

    for (const args of [['connections', 'list'], add]) {
      const result = await gridpulse(args, badRegistry);

      expectOneLineFailure(result);
      expect(result.stderr).toMatch(/cannot reach the schema registry at .*SCHEMA_REGISTRY_URL/);
      expect(result.stderr).toMatch(/ \(GP_REGISTRY_UNAVAILABLE\)\n$/);
    }
  });
});
