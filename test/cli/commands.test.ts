import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createAvroSerde } from '../../services/common/avro';
import { readAllConnections } from '../../services/poller/connection-store';
import { setUpTestKafka, type TestKafka } from '../support/kafka';
import { GRIDPULSE_BIN as BIN, gridpulse } from '../support/cli';

const run = promisify(execFile);

describe('gridpulse command line', () => {
  it.each([
    [['start', '--tesla', '-5'], /--tesla/],
    [['start', '--tesla', '1e3'], /--tesla.*whole number/],
    [['start', '--enphase', '0x10'], /--enphase.*whole number/],
    [['start', '--services', ','], /--services.*one or more of oem-simulator/],
    [['start', '--services', ''], /--services.*one or more of oem-simulator/],
    [['start', '--faults', '2'], /--faults/],
    [['start', '--faults', ''], /--faults.*number from 0 to 1/],
    [['start', '--offline', ' '], /--offline.*number from 0 to 1/],
    [['start', '--tesla', '100001'], /--tesla.*from 0 to 100000/],
    [['start', '--enphase', '100001'], /--enphase.*from 0 to 100000/],
    [['start', '--interval', '0'], /--interval.*≥ 1/],
    [['start', '--no-such-option'], /unknown option/],
    [['no-such-command'], /unknown command/],
  ])('refuses %j with one clear line and a non-zero exit', async (args, message) => {
    const result = await gridpulse(args);
    const lines = result.stderr.trim().split('\n');

    expect(result.code).not.toBe(0);
    expect(lines[0]).toMatch(message);
    // At most a pointer to --help after it; never a stack trace.
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('runs through a link named gridpulse, as npx and npm install -g call it', async () => {
    const link = path.join(mkdtempSync(path.join(os.tmpdir(), 'gridpulse-bin-')), 'gridpulse');
    symlinkSync(BIN, link);

    const help = await run(process.execPath, [link, '--help']);
    expect(help.stdout).toContain('Usage: gridpulse');
    await expect(run(process.execPath, [link, 'no-such-command'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/unknown command/),
    });
  });

  it('exits quietly when the reader of its output goes away', async () => {
    const { stdout, stderr } = await run('bash', [
      '-c',
      `"${process.execPath}" "${BIN}" topics --list | true; echo "exit \${PIPESTATUS[0]}" >&2`,
    ]);
    // `true` exits before the command writes a line, so every write meets a closed pipe.
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(/EPIPE/);
    expect(stderr).toMatch(/exit 0/);
  });

  it('prints help for every command', async () => {
    const result = await gridpulse(['--help']);

    expect(result.code).toBe(0);
    for (const command of [
      'start',
      'stack',
      'topics',
      'connections',
      'destinations',
      'simulator',
    ]) {
      expect(result.stdout).toContain(command);
    }
  });

  describe('connections, against Kafka', () => {
    let testKafka: TestKafka;
    let env: NodeJS.ProcessEnv;
    const key = randomBytes(32);

    beforeAll(async () => {
      testKafka = await setUpTestKafka({ only: ['connections.v1'], partitions: 2 });
      env = {
        KAFKA_BROKERS: testKafka.config.kafka.brokers.join(','),
        SCHEMA_REGISTRY_URL: testKafka.config.registry.url,
        GRIDPULSE_TOPIC_PREFIX: testKafka.config.topicPrefix,
        CREDENTIALS_ENCRYPTION_KEY: key.toString('base64'),
        LOG_LEVEL: 'error',
      };
    });

    afterAll(async () => {
      await testKafka.close();
    });

    it('stores credentials encrypted under the configured key and never prints them', async () => {
      const refreshToken = `rt-${randomBytes(8).toString('hex')}`;
      const added = await gridpulse(
        [
          'connections',
          'add',
          '--oem',
          'tesla',
          '--id',
          'conn-cli-1',
          '--workspace',
          'ws-1',
          '--organization',
          'org-1',
          '--customer',
          'cu-1',
          '--site',
          'si-1',
          '--client-id',
          'client-1',
          '--refresh-token',
          refreshToken,
        ],
        env,
      );
      expect(added).toMatchObject({ code: 0 });
      expect(added.stdout).toContain('registered conn-cli-1 (tesla)');

      // The raw record: encrypted format, and the token's bytes appear nowhere in it.
      const raw = await readRawConnections(testKafka);
      expect(raw).toHaveLength(1);
      expect(raw[0]!.credentialsFormat).toBe('aes-256-gcm:k1');
      expect(raw[0]!.credentials.includes(Buffer.from(refreshToken))).toBe(false);

      // Readable with the key: the poller's own reader gets the token back.
      const connections = await readAllConnections({
        kafka: testKafka.kafka,
        serde: createAvroSerde(testKafka.config),
        topic: testKafka.topics['connections.v1'],
        credentialsKey: { id: 'k1', key },
      });
      expect(connections.get('conn-cli-1')?.credentials.refreshToken).toBe(refreshToken);

      const listed = await gridpulse(['connections', 'list'], env);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/conn-cli-1\s+tesla/);
      expect(listed.stdout).toContain('refreshToken');
      expect(listed.stdout).not.toContain(refreshToken);

      // Without the key: not a silent "0", but how many could not be read, and why.
      const { CREDENTIALS_ENCRYPTION_KEY: _key, ...envWithoutKey } = env;
      const withoutKey = await gridpulse(['connections', 'list'], envWithoutKey);
      expect(withoutKey.code).toBe(1);
      expect(withoutKey.stdout).toContain('connections: 0');
      expect(withoutKey.stderr).toMatch(
        /1 more could not be read \(GP_CREDENTIALS_UNDECRYPTABLE\); set CREDENTIALS_ENCRYPTION_KEY/,
      );
    });

    it('refuses an add with required fields missing, naming them', async () => {
      const result = await gridpulse(['connections', 'add', '--oem', 'tesla'], env);

      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/workspace/);
    });
  });
});

async function readRawConnections(testKafka: TestKafka) {
  const serde = createAvroSerde(testKafka.config);
  const consumer = testKafka.kafka.consumer({
    groupId: `${testKafka.config.topicPrefix}.raw-${randomBytes(4).toString('hex')}`,
  });
  const records: Array<{ credentialsFormat: string; credentials: Buffer }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic: testKafka.topics['connections.v1'], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value) records.push(await serde.decode(message.value));
    },
  });
  const deadline = Date.now() + 30_000;
  while (records.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await consumer.disconnect();
  return records;
}
