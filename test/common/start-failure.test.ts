import { execFile } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { logStartFailure } from '../../services/common/start-failure';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '../..');

/** Runs a service's main as a deployment does; resolves with exit code and output. */
async function startService(service: string, env: NodeJS.ProcessEnv) {
  const main = path.join(ROOT, 'services', service, 'main.ts');
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', main], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('service start-up with a bad configuration', () => {
  it.each([
    ['oem-simulator', { SIM_PORT: 'abc' }, ['LOG_LEVEL', 'SIM_PORT']],
    ['poller', { METRICS_PORT: 'abc' }, ['LOG_LEVEL', 'METRICS_PORT']],
    ['differ', { METRICS_PORT: 'abc' }, ['LOG_LEVEL', 'METRICS_PORT']],
    ['dispatcher', { METRICS_PORT: 'abc' }, ['LOG_LEVEL', 'METRICS_PORT']],
    ['admin-api', { METRICS_PORT: 'abc' }, ['LOG_LEVEL', 'METRICS_PORT', 'ADMIN_API_KEYS']],
    ['webhook-receiver', { RECEIVER_PORT: 'abc' }, ['LOG_LEVEL', 'RECEIVER_PORT']],
  ])(
    '%s exits 1 with one fatal JSON line carrying GP_CONFIG_INVALID and every bad key',
    async (service, env, keys) => {
      const result = await startService(service, { LOG_LEVEL: 'loud', ...env });

      expect(result.code).toBe(1);
      expect(result.stderr).toBe('');
      const lines = result.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      const line = JSON.parse(lines[0]!) as {
        level: string;
        service: string;
        msg: string;
        err: { code: string; message: string; stack?: string; context: { keys: string[] } };
      };
      expect(line).toMatchObject({ level: 'fatal', service, msg: 'failed to start' });
      expect(line.err.code).toBe('GP_CONFIG_INVALID');
      expect(line.err.stack).toBeUndefined();
      for (const key of keys) {
        expect(line.err.message).toContain(`${key}:`);
        expect(line.err.context.keys).toContain(key);
      }
    },
  );
});

describe('service start-up with Kafka out of reach', () => {
  // Spawning a service against a dead broker takes its minute of retries; the failure it ends
  // with is the one kafkajs throws, so that is what is fed to the logger here.
  it('logs GP_KAFKA_UNREACHABLE naming the brokers and KAFKA_BROKERS, without a stack', () => {
    const chunks: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    const failure = new KafkaJSNumberOfRetriesExceeded(
      new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1'),
      { retryCount: 8, retryTime: 1000 },
    );
    const previous = process.env.KAFKA_BROKERS;
    process.env.KAFKA_BROKERS = '127.0.0.1:1';
    try {
      logStartFailure('poller', failure, sink);
    } finally {
      process.env.KAFKA_BROKERS = previous;
    }

    const lines = chunks.join('').trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { msg: string; err: Record<string, unknown> };
    expect(line.msg).toBe('failed to start');
    expect(line.err).toEqual({
      type: 'GridpulseError',
      code: 'GP_KAFKA_UNREACHABLE',
      retriable: true,
      message:
        'cannot reach Kafka at 127.0.0.1:1 after the start-up retries ' +
        '(Connection error: connect ECONNREFUSED 127.0.0.1:1): check KAFKA_BROKERS and the brokers',
    });
  });
});
