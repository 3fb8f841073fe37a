import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  startLocalPipeline,
  type LocalPipeline,
  type ServiceExit,
} from '../../services/cli/local-pipeline';
import { isProcessAlive } from '../../services/cli/service-process';
import { createAvroSerde } from '../../services/common/avro';
import type { CredentialsKey } from '../../services/common/credentials-crypto';
import { emptyCustomer, emptySite, type Connection } from '../../services/poller/connection';
import { createConnectionWriter, readAllConnections } from '../../services/poller/connection-store';
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

  it("deletes the demo's connections of an earlier, larger fleet and no one else's", async () => {
    const logDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'gridpulse-pipeline-')), 'logs');
    const runDemo = async (fleet: { tesla: number; enphase: number }) => {
      const pipeline = await startLocalPipeline({
        services: ['oem-simulator'],
        fleet,
        pollIntervalSeconds: 10,
        faultRate: 0,
        offlineRate: 0,
        seed: 1,
        env,
        logDir,
        ports: { 'oem-simulator': await freePort() },
      });
      await pipeline.stop();
    };
    await runDemo({ tesla: 3, enphase: 3 });
    // The demo's key (kept beside the logs), so only the id tells these from the demo's own.
    const demoKey = {
      id: 'k1',
      key: Buffer.from(readFileSync(path.join(logDir, '../credentials.key'), 'utf8').trim(), 'hex'),
    };
    await putConnections(demoKey, [connectionFixture('user-real-tesla-1')]);
    // A simulator account registered by hand, without the demo's key: not the demo's either.
    await putConnections(undefined, [connectionFixture('sim-tesla-acct-000099')]);

    await runDemo({ tesla: 1, enphase: 1 });

    const left = await readAllConnections({
      kafka: testKafka.kafka,
      serde: createAvroSerde(testKafka.config),
      topic: testKafka.topics['connections.v1'],
      credentialsKey: demoKey,
    });
    expect([...left.keys()].sort()).toEqual([
      'sim-enphase-acct-000000',
      'sim-tesla-acct-000000',
      'sim-tesla-acct-000099',
      'user-real-tesla-1',
    ]);
  }, 180_000);

  it('refuses to restart a service whose port another process took, naming the port', async () => {
    const logDir = mkdtempSync(path.join(os.tmpdir(), 'gridpulse-pipeline-'));
    const port = await freePort();
    const exits: ServiceExit[] = [];
    const pipeline = await startLocalPipeline({
      services: ['oem-simulator'],
      fleet: { tesla: 0, enphase: 0 },
      pollIntervalSeconds: 10,
      faultRate: 0,
      offlineRate: 0,
      seed: 1,
      env,
      logDir,
      ports: { 'oem-simulator': port },
      onServiceExit: (exit) => exits.push(exit),
    });
    // Answers 200 to everything, readiness checks included.
    const imposter = createHttpServer((_request, response) => response.end('ok'));
    try {
      process.kill(Number(readFileSync(path.join(logDir, 'oem-simulator.pid'), 'utf8')), 'SIGKILL');
      await waitFor(() => exits.length > 0, { what: 'the simulator exit' });
      await new Promise<void>((resolve) => imposter.listen(port, '127.0.0.1', resolve));

      await expect(exits[0]!.restart()).rejects.toThrow(
        `port ${port} (oem-simulator) is in use by another process`,
      );
      expect(pipeline.processes.get('oem-simulator')!.isRunning()).toBe(false);
    } finally {
      await pipeline.stop();
      await new Promise((resolve) => imposter.close(resolve));
    }
  }, 60_000);

  async function putConnections(key: CredentialsKey | undefined, connections: Connection[]) {
    const producer = testKafka.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const writer = createConnectionWriter({
        producer,
        serde: createAvroSerde(testKafka.config),
        topic: testKafka.topics['connections.v1'],
        credentialsKey: key,
      });
      for (const connection of connections) await writer.put(connection);
    } finally {
      await producer.disconnect();
    }
  }
});

function connectionFixture(connectionId: string): Connection {
  return {
    connectionId,
    oem: 'tesla',
    enabled: true,
    credentials: { clientId: 'client-1', refreshToken: 'rt-1' },
    workspaceId: 'ws-1',
    organizationId: 'org-1',
    customer: emptyCustomer('cu-1'),
    site: emptySite('si-1'),
    createdAt: 0,
    updatedAt: 0,
  };
}

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
