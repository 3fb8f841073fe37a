import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PIPELINE_PORTS } from '../../services/cli/local-pipeline';
import { setUpTestKafka, waitFor, type TestKafka } from '../support/kafka';

const BIN = path.join(__dirname, '../../bin/gridpulse.js');

/** `gridpulse start …` as a user runs it, on this test's topics, with its own files. */
const started: ChildProcess[] = [];

function startGridpulse(args: string[], env: NodeJS.ProcessEnv) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, 'start', ...args], {
    env: { ...process.env, ...env },
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  started.push(child);
  return { child, exited, output: () => stdout, errors: () => stderr };
}

describe('gridpulse start', () => {
  let testKafka: TestKafka;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    testKafka = await setUpTestKafka({ service: 'cli-start' });
    env = {
      GRIDPULSE_TOPIC_PREFIX: testKafka.config.topicPrefix,
      GRIDPULSE_HOME: mkdtempSync(path.join(os.tmpdir(), 'gridpulse-home-')),
      LOG_LEVEL: 'info',
    };
  }, 60_000);

  afterEach(() => {
    // A failed test must not leave a launcher running (its services then stop themselves).
    for (const child of started.splice(0)) child.kill('SIGKILL');
  });

  afterAll(async () => {
    await testKafka?.close();
  });

  it('restarts a service killed while the others start, and leaves it stopped at its fifth crash', async () => {
    const portBase = (await freePort()) - PIPELINE_PORTS.dispatcher;
    const start = startGridpulse(
      ['--services', 'differ,dispatcher', '--port-base', String(portBase)],
      env,
    );
    const pidFile = path.join(env.GRIDPULSE_HOME!, 'run/pipeline/logs/differ.pid');
    const killDiffer = () => process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    const lines = () => start.output().split('\n');
    const count = (prefix: string) => lines().filter((line) => line.startsWith(prefix)).length;

    // The first kill lands before the dispatcher is ready: the launch is still under way.
    await waitFor(() => start.output().includes('start: differ: ready'), {
      timeoutMs: 90_000,
      what: 'the differ to be ready',
    });
    killDiffer();
    for (let crash = 1; crash < 5; crash += 1) {
      await waitFor(() => count('start: differ: ready again') === crash, {
        timeoutMs: 90_000,
        what: `restart ${crash} of the differ`,
      });
      killDiffer();
    }
    await waitFor(() => start.output().includes('left stopped'), {
      timeoutMs: 30_000,
      what: 'the differ to be left stopped',
    });
    start.child.kill('SIGINT');

    expect(await start.exited).toBe(0);
    const exits = lines().filter((line) => line.startsWith('start: differ exited'));
    expect(exits.map((line) => line.replace(/, see .*|; left stopped.*/, ''))).toEqual([
      'start: differ exited (SIGKILL); restarting in 1 s',
      'start: differ exited (SIGKILL); restarting in 2 s',
      'start: differ exited (SIGKILL); restarting in 4 s',
      'start: differ exited (SIGKILL); restarting in 8 s',
      'start: differ exited (SIGKILL) 5 times within 5 min',
    ]);
    expect(existsSync(pidFile)).toBe(false);
  }, 300_000);

  it('stops its services cleanly when the reader of its output goes away', async () => {
    const portBase = (await freePort()) - PIPELINE_PORTS.differ;
    const home = mkdtempSync(path.join(os.tmpdir(), 'gridpulse-home-'));
    const args = `start --services differ --status-every 1 --port-base ${portBase}`;
    // head leaves after three lines; the status lines that follow meet a closed pipe.
    const shell = spawn(
      'bash',
      ['-c', `"${process.execPath}" "${BIN}" ${args} | head -3; echo "exit \${PIPESTATUS[0]}" >&2`],
      { env: { ...process.env, ...env, GRIDPULSE_HOME: home } },
    );
    started.push(shell);
    let stderr = '';
    shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    await new Promise((resolve) => shell.once('exit', resolve));

    const logs = path.join(home, 'run/pipeline/logs');
    expect(stderr).toMatch(/exit 0/);
    expect(stderr).not.toMatch(/EPIPE/);
    expect(readFileSync(path.join(logs, 'differ.log'), 'utf8')).toContain('"msg":"stopped"');
    expect(existsSync(path.join(logs, 'differ.pid'))).toBe(false);
  }, 180_000);

  it('stops what it started, stage by stage, at a Ctrl-C during the launch', async () => {
    const portBase = (await freePort()) - PIPELINE_PORTS.dispatcher;
    const home = mkdtempSync(path.join(os.tmpdir(), 'gridpulse-home-'));
    const start = startGridpulse(
      ['--services', 'differ,dispatcher', '--port-base', String(portBase)],
      { ...env, GRIDPULSE_HOME: home },
    );
    // The dispatcher is yet to be ready: the launch is still under way.
    await waitFor(() => start.output().includes('start: differ: ready'), {
      timeoutMs: 90_000,
      what: 'the differ to be ready',
    });
    start.child.kill('SIGINT');

    expect(await start.exited).toBe(0);
    const logs = path.join(home, 'run/pipeline/logs');
    // The dispatcher's start, under way at the Ctrl-C or not yet begun, is its last step.
    expect(start.output()).toContain('start: stopping once the step under way is done');
    expect(start.output()).toContain('start: stopped before the pipeline was up');
    expect(start.output()).not.toContain('start: running');
    expect(readFileSync(path.join(logs, 'differ.log'), 'utf8')).toContain('"msg":"stopped"');
    expect(existsSync(path.join(logs, 'differ.pid'))).toBe(false);
    expect(existsSync(path.join(logs, 'dispatcher.pid'))).toBe(false);
  }, 180_000);

  describe('when a port of the pipeline is held by another process', () => {
    let dummy: Server;
    let port: number;

    beforeAll(async () => {
      // Answers 200 to everything, /readyz included, as a stale or unrelated server might.
      dummy = createHttpServer((_request, response) => response.end('ok'));
      port = await freePort();
      await new Promise<void>((resolve) => dummy.listen(port, '127.0.0.1', resolve));
    });

    afterAll(async () => {
      await new Promise((resolve) => dummy.close(resolve));
    });

    it('refuses to start, naming the port and the service, and never reports it ready', async () => {
      const portBase = port - PIPELINE_PORTS.differ;
      const start = startGridpulse(['--services', 'differ', '--port-base', String(portBase)], env);

      expect(await start.exited).toBe(1);
      expect(start.output()).toContain(
        `start: failed: port ${port} (differ metrics) is in use by another process; ` +
          "stop it, or move the pipeline's ports with --port-base",
      );
      expect(start.output()).not.toContain('differ: ready');
    }, 120_000);
  });
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
