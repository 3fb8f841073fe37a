import { setUpTestKafka, type TestKafka } from '../support/kafka';
import { gridpulse } from '../support/cli';

describe('gridpulse destinations', () => {
  let testKafka: TestKafka;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({ only: ['destinations.v1'], partitions: 1 });
    env = {
      KAFKA_BROKERS: testKafka.config.kafka.brokers.join(','),
      SCHEMA_REGISTRY_URL: testKafka.config.registry.url,
      GRIDPULSE_TOPIC_PREFIX: testKafka.config.topicPrefix,
      DISPATCHER_ALLOW_PRIVATE_URLS: 'true',
      LOG_LEVEL: 'error',
    };
  });

  afterAll(async () => {
    await testKafka.close();
  });

  it('prints custom header names but never their values', async () => {
    const token = 'Bearer s3cr3t-receiver-token';
    const created = await gridpulse(
      [
        'destinations',
        'create',
        '--url',
        'http://127.0.0.1:9/hooks',
        '--header',
        `authorization=${token}`,
      ],
      env,
    );
    expect(created).toMatchObject({ code: 0 });
    expect(created.stdout).toContain('"authorization"');
    expect(created.stdout).not.toContain('s3cr3t');

    const listed = await gridpulse(['destinations', 'list', '--json'], env);
    expect(listed).toMatchObject({ code: 0 });
    const destination = JSON.parse(listed.stdout.trim().split('\n')[0]!) as {
      headers: Record<string, string>;
    };
    expect(Object.keys(destination.headers)).toEqual(['authorization']);
    expect(listed.stdout).not.toContain('s3cr3t');
  });

  it.each([['update', '--description', 'x'], ['disable'], ['enable'], ['delete']])(
    '%s names the destination that does not exist',
    async (subcommand, ...flags) => {
      const result = await gridpulse(
        ['destinations', subcommand, 'dst_doesnotexist', ...flags],
        env,
      );

      expect(result.code).toBe(1);
      expect(result.stderr).toContain('no such destination dst_doesnotexist');
    },
  );

  it.each([
    [['--header', 'noequals'], /--header.*expected name=value/],
    [['--header', '=value'], /--header.*expected name=value/],
    [['--rate-limit', 'abc'], /--rate-limit.*expected deliveries per second/],
    [['--timeout-ms', 'soon'], /--timeout-ms.*expected milliseconds/],
  ])('create refuses %j, naming the flag and what it expects', async (flags, message) => {
    const args = ['destinations', 'create', '--url', 'http://127.0.0.1:9/hooks', ...flags];
    const result = await gridpulse(args, env);

    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')[0]).toMatch(message);
    expect(result.stderr).not.toMatch(/NaN/);
  });

  it('does not repeat a malformed header, which may be a credential', async () => {
    const args = ['destinations', 'create', '--url', 'http://127.0.0.1:9/hooks'];
    const result = await gridpulse([...args, '--header', 'authorization: Bearer LEAKME'], env);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--header.*expected name=value/);
    expect(result.stdout + result.stderr).not.toContain('LEAKME');
  });

  it('masks the values of a URL query, where receivers often take a token', async () => {
    const url = 'http://127.0.0.1:9/hooks?token=TOPSECRETQ&v=2';
    const created = await gridpulse(['destinations', 'create', '--url', url], env);
    const listed = await gridpulse(['destinations', 'list', '--json'], env);

    expect(created).toMatchObject({ code: 0 });
    expect(created.stdout).toContain('http://127.0.0.1:9/hooks?token=[redacted]&v=[redacted]');
    expect(listed.stdout).toContain('http://127.0.0.1:9/hooks?token=[redacted]&v=[redacted]');
    expect(created.stdout + listed.stdout).not.toContain('TOPSECRETQ');
  });
});
