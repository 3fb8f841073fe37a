import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { EventRecord } from '../../services/common/events';
import { waitFor } from '../support/kafka';
import { makeFleetHistory } from './fleet';
import {
  computeExpected,
  findKeyMiscounts,
  produceSamples,
  readCommitted,
  readEvents,
  readSnapshots,
  setUpDifferKafka,
} from './harness';

const ROOT = path.join(__dirname, '../..');

describe('differ crash recovery', () => {
  let testKafka: Awaited<ReturnType<typeof setUpDifferKafka>>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    testKafka = await setUpDifferKafka(3);
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await testKafka.close();
  });

  function spawnDiffer(env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string } {
    const chunks: string[] = [];
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/differ/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        KAFKA_BROKERS: testKafka.config.kafka.brokers.join(','),
        SCHEMA_REGISTRY_URL: testKafka.config.registry.url,
        GRIDPULSE_TOPIC_PREFIX: testKafka.config.topicPrefix,
        METRICS_PORT: '0',
        DIFF_SESSION_TIMEOUT_MS: '6000',
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk) => chunks.push(String(chunk)));
    child.stderr!.on('data', (chunk) => chunks.push(String(chunk)));
    children.push(child);
    return { child, output: () => chunks.join('') };
  }

  test('a SIGKILL mid-batch loses and duplicates nothing, and the state is as if it never stopped', async () => {
    const samples = makeFleetHistory(600, 8);
    const expected = computeExpected(samples);
    await produceSamples(testKafka, samples);
    const eventsTopic = testKafka.topics['events.v1'];

    // Kill the moment the first transaction has written anything, before it commits. A
    // read_uncommitted consumer sees those writes; the topic's offsets would not (kafkajs
    // lists them read_committed: they move only at a commit, and a kill right after one
    // would land between transactions).
    const watcher = testKafka.kafka.consumer({
      groupId: `${testKafka.config.topicPrefix}.kill-trigger`,
      readUncommitted: true,
    });
    let written = false;
    await watcher.connect();
    await watcher.subscribe({ topic: eventsTopic, fromBeginning: true });
    const joined = new Promise((resolve) => watcher.on(watcher.events.GROUP_JOIN, resolve));
    await watcher.run({
      eachMessage: async () => {
        written = true;
      },
    });
    await joined;
    // One long transaction per partition, so that the kill lands inside one.
    const first = spawnDiffer({ DIFF_MAX_RECORDS_PER_TRANSACTION: '100000' });
    await waitFor(() => written, {
      intervalMs: 5,
      timeoutMs: 30_000,
      what: 'first writes on events.v1',
    });
    first.child.kill('SIGKILL');
    await watcher.disconnect();
    await new Promise((resolve) => first.child.once('exit', resolve));

    const committedAtKill = await readEvents(testKafka, 0, { quietMs: 1000 });
    expect(committedAtKill.length).toBeLessThan(expected.events.length);

    const second = spawnDiffer();
    let events: EventRecord[];
    try {
      events = await readEvents(testKafka, expected.events.length, {
        timeoutMs: 45_000,
        quietMs: 1500,
      });
    } catch (err) {
      throw new Error(`${String(err)}\n${second.output().slice(-3000)}`);
    }

    expect(findKeyMiscounts(expected.events, events)).toEqual({});
    // The kill did land inside a transaction: its aborted records are in the log, where only a
    // read_uncommitted reader sees them.
    const everything = await readCommitted(testKafka.kafka, testKafka.serde, eventsTopic, {
      readUncommitted: true,
      isDone: (values) => values.length > expected.events.length,
    });
    expect(everything.length).toBeGreaterThan(expected.events.length);
    expect(events).toHaveLength(expected.events.length);

    const snapshots = await readSnapshots(testKafka, expected.snapshots.size);
    expect(snapshots).toEqual(expected.snapshots);

    second.child.kill('SIGTERM');
    const exitCode = await new Promise((resolve) => second.child.once('exit', resolve));
    expect(exitCode).toBe(0);
    expect(second.output()).toContain('producers closed');
  }, 120_000);
});
