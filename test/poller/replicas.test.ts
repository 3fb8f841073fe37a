import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { startSimulator } from '../../services/oem-simulator/simulator';
import type { SimulatorHandle } from '../../services/oem-simulator/types';
import { setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';
import { collectDeviceStates, pollerEnv, registerAccounts } from './support';

const ROOT = path.join(__dirname, '../..');
const INTERVAL_SECONDS = 2;
const SESSION_TIMEOUT_MS = 6_000;

interface Replica {
  process: ChildProcess;
  /** The partitions of its latest assignment. */
  partitions: number[];
  adopted: Map<number, number>;
}

describe('poller replicas', () => {
  let testKafka: TestKafka;
  let sim: SimulatorHandle;
  const replicas: Replica[] = [];
  let collector: Awaited<ReturnType<typeof collectDeviceStates>> | undefined;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({
      only: ['connections.v1', 'commands.v1', 'device-state.v1'],
      partitions: 3,
    });
    sim = await startSimulator({ port: 0, seed: 5, fleet: { tesla: 9, enphase: 0 } });
  });

  afterAll(async () => {
    for (const replica of replicas) replica.process.kill('SIGKILL');
    await collector?.stop();
    await sim.stop();
    await testKafka.close();
  });

  it("share the connections, and a killed replica's connections are polled by the other", async () => {
    const connections = await registerAccounts(testKafka, sim.accounts());
    collector = await collectDeviceStates(testKafka);
    replicas.push(startReplica(testKafka, sim.url), startReplica(testKafka, sim.url));

    await waitFor(() => replicas.every((r) => r.partitions.length > 0), {
      timeoutMs: 30_000,
      what: 'both replicas to own partitions',
    });
    await waitFor(() => replicas.every((r) => r.partitions.every((p) => r.adopted.has(p))), {
      what: 'both replicas to adopt their partitions',
    });
    // The victim is the replica polling more connections, so the takeover is never vacuous.
    const [survivor, victim] = [...replicas].sort((a, b) => owned(a) - owned(b)) as [
      Replica,
      Replica,
    ];
    const victimConnections = owned(victim);
    expect(victim.partitions.length + survivor.partitions.length).toBe(3);
    expect(victim.partitions.filter((p) => survivor.partitions.includes(p))).toEqual([]);

    victim.process.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(() => survivor.partitions.length === 3, {
      timeoutMs: SESSION_TIMEOUT_MS + 15_000,
      what: 'the survivor to take every partition',
    });
    const takenOverAt = Date.now();

    // Within one interval of the takeover (plus replay, produce and the collector's own lag),
    // every connection has a fresh record.
    await waitFor(
      () =>
        connections.every((c) =>
          collector!.records.some(
            (r) => r.connectionId === c.connectionId && r.polledAt > takenOverAt,
          ),
        ),
      {
        timeoutMs: INTERVAL_SECONDS * 1000 + 2_000,
        what: 'every connection polled after takeover',
      },
    );
    expect(Date.now() - killedAt).toBeLessThan(
      SESSION_TIMEOUT_MS + 15_000 + INTERVAL_SECONDS * 1000,
    );
    expect(victimConnections).toBeGreaterThan(0);
  });
});

function owned(replica: Replica): number {
  return replica.partitions.reduce((n, p) => n + (replica.adopted.get(p) ?? 0), 0);
}

function startReplica(testKafka: TestKafka, simUrl: string): Replica {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/poller/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...pollerEnv(testKafka, simUrl, {
        POLL_INTERVAL_TESLA_SECONDS: String(INTERVAL_SECONDS),
        POLLER_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
        LOG_LEVEL: 'info',
      }),
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const replica: Replica = { process: child, partitions: [], adopted: new Map() };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let entry: { msg?: string; partitions?: number[]; partition?: number; connections?: number };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return; // not a log line
    }
    if (entry.msg === 'partitions assigned') {
      replica.partitions = entry.partitions ?? [];
      replica.adopted.clear();
    }
    if (entry.msg === 'partition adopted' && entry.partition !== undefined) {
      replica.adopted.set(entry.partition, entry.connections ?? 0);
    }
  });
  return replica;
}
