import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  startLocalPipeline,
  type LocalPipeline,
  type ServiceExit,
} from '../../services/cli/local-pipeline';
import { isProcessAlive } from '../../services/cli/service-process';
import { setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';

describe('startLocalPipeline', () => {
  let testKafka: TestKafka;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({ service: 'cli-pipeline' });
    env = {
      ...process.env,
      GRIDPULSE_TOPIC_PREFIX: testKafka.config.topicPrefix,
      LOG_LEVEL: 'info',
    };
  }, 60_000);

  afterAll(async () => {
    await testKafka?.close();
  });

  it('reports a service that crashes while the others are still starting, and restarts it', async () => {
    const logDir = mkdtempSync(path.join(os.tmpdir(), 'gridpulse-pipeline-'));
    const exits: ServiceExit[] = [];
    let killedPid = 0;
    let pipeline: LocalPipeline | undefined;
    try {
      pipeline = await startLocalPipeline(
        {
          services: ['differ', 'dispatcher'],
          fleet: { tesla: 0, enphase: 0 },
          pollIntervalSeconds: 10,
          faultRate: 0,
          offlineRate: 0,
          seed: 1,
          env,
          logDir,
          ports: { differ: await freePort(), dispatcher: await freePort() },
          onServiceExit: (exit) => exits.push(exit),
        },
        (line) => {
          // The dispatcher is yet to start: the launch is still under way.
          if (!line.startsWith('differ: ready')) return;
          killedPid = Number(readFileSync(path.join(logDir, 'differ.pid'), 'utf8'));
          process.kill(killedPid, 'SIGKILL');
        },
      );
      await waitFor(() => exits.length > 0, { timeoutMs: 30_000, what: 'the differ exit' });

      expect(killedPid).toBeGreaterThan(0);
      expect(exits.map(({ name, signal }) => ({ name, signal }))).toEqual([
        { name: 'differ', signal: 'SIGKILL' },
      ]);
      await expect(exits[0]!.restart()).resolves.toBe(true);
      expect(pipeline.processes.get('differ')!.isRunning()).toBe(true);
    } finally {
      await pipeline?.stop();
    }
    // Stopping it is no crash.
    expect(exits).toHaveLength(1);
    expect(isProcessAlive(killedPid)).toBe(false);
  }, 180_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
