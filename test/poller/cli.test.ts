import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAvroSerde, type AvroSerde } from '../../services/common/avro';
import { readAllConnections } from '../../services/poller/connection-store';
import { setUpTestKafka, type TestKafka } from '../support/kafka';
import { gridpulse } from '../support/cli';

describe('gridpulse connections', () => {
  let testKafka: TestKafka;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({ only: ['connections.v1'], partitions: 1 });
    env = {
      KAFKA_BROKERS: testKafka.config.kafka.brokers.join(','),
      SCHEMA_REGISTRY_URL: testKafka.config.registry.url,
      GRIDPULSE_TOPIC_PREFIX: testKafka.config.topicPrefix,
      LOG_LEVEL: 'error',
    };
  });

  afterAll(async () => {
    await testKafka.close();
  });

  it("points to the pipeline's key under GRIDPULSE_HOME when records are encrypted", async () => {
    const add = ['connections', 'add', '--oem', 'tesla', '--workspace', 'w'];
    add.push('--organization', 'o', '--customer', 'c', '--site', 's', '--refresh-token', 'rt');
    const key = randomBytes(32).toString('base64');
    expect(await gridpulse(add, { ...env, CREDENTIALS_ENCRYPTION_KEY: key })).toMatchObject({
      code: 0,
    });
    const home = mkdtempSync(path.join(os.tmpdir(), 'gridpulse-home-'));

    const listed = await gridpulse(['connections', 'list'], { ...env, GRIDPULSE_HOME: home });

    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain(path.join(home, 'run/pipeline/credentials.key'));
    expect(listed.stderr).not.toContain('~/.cache');
  });

  it('refuses a --from-simulator that is not a URL, naming the flag', async () => {
    const result = await gridpulse(['connections', 'add', '--from-simulator', 'notaurl'], env);

    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')[0]).toMatch(/--from-simulator.*notaurl.*expected/);
  });

  it('stops reading at the first record the unreachable registry cannot decode', async () => {
    const add = ['connections', 'add', '--oem', 'tesla', '--workspace', 'w'];
    add.push('--organization', 'o', '--customer', 'c', '--site', 's', '--refresh-token', 'rt');
    for (let i = 0; i < 3; i += 1) expect(await gridpulse(add, env)).toMatchObject({ code: 0 });
    const unreachable = createAvroSerde(
      { registry: { url: 'http://127.0.0.1:1/apis/ccompat/v7' } },
      { requestTimeoutMs: 1_000 },
    );
    let decodes = 0;
    const countingSerde: AvroSerde = {
      ...unreachable,
      decode(buffer) {
        decodes += 1;
        return unreachable.decode(buffer);
      },
    };
    const invalid: unknown[] = [];

    const read = readAllConnections({
      kafka: testKafka.kafka,
      serde: countingSerde,
      topic: testKafka.topics['connections.v1'],
      onInvalid: (_connectionId, err) => invalid.push(err),
    });

    await expect(read).rejects.toMatchObject({ code: 'GP_RECORD_UNDECODABLE', retriable: true });
    expect(decodes).toBe(1);
    expect(invalid).toEqual([]);
  }, 60_000);

  it('counts as unreadable only the ids whose latest record is unreadable', async () => {
    const own = await setUpTestKafka({ only: ['connections.v1'], partitions: 1 });
    try {
      const ownEnv = { ...env, GRIDPULSE_TOPIC_PREFIX: own.config.topicPrefix };
      const keyed = { ...ownEnv, CREDENTIALS_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
      const add = (id: string) => {
        const args = ['connections', 'add', '--id', id, '--oem', 'tesla', '--workspace', 'w'];
        args.push('--organization', 'o', '--customer', 'c', '--site', 's', '--refresh-token', 'rt');
        return args;
      };
      // Encrypted, then deleted; encrypted, then rewritten in the clear; encrypted only.
      for (const id of ['conn-deleted', 'conn-rewritten', 'conn-encrypted']) {
        expect(await gridpulse(add(id), keyed)).toMatchObject({ code: 0 });
      }
      const producer = own.kafka.producer();
      await producer.connect();
      await producer.send({
        topic: own.topics['connections.v1'],
        messages: [{ key: 'conn-deleted', value: null }],
      });
      await producer.disconnect();
      expect(await gridpulse(add('conn-rewritten'), ownEnv)).toMatchObject({ code: 0 });

      const listed = await gridpulse(['connections', 'list'], ownEnv);

      expect(listed.code).toBe(1);
      expect(listed.stdout).toContain('conn-rewritten');
      expect(listed.stdout).toContain('connections: 1');
      expect(listed.stderr).toMatch(/^connections: 1 more could not be read /);
    } finally {
      await own.close();
    }
  }, 60_000);
});
