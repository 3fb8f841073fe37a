import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  createServiceProcess,
  isProcessAlive,
  type ServiceProcessSpec,
} from '../../services/cli/service-process';
import { waitFor } from '../support/kafka';

const REPO_ROOT = path.join(__dirname, '../..');

/** Another launcher: starts the spec's service with service-process, prints "ready", waits. */
const LAUNCHER = `
require('tsx/cjs');
const { createServiceProcess } = require('./services/cli/service-process.ts');
const spec = JSON.parse(process.env.TEST_SPEC);
createServiceProcess(spec).start().then(() => process.stdout.write('ready\\n'));
setInterval(() => undefined, 1000);
`;

describe('createServiceProcess', () => {
  it('refuses to take over a service another live launcher runs, which outlives it cleanly', async () => {
    const port = await freePort();
    const spec: ServiceProcessSpec = {
      name: 'webhook-receiver',
      entry: 'services/webhook-receiver/main.ts',
      env: {
        ...process.env,
        RECEIVER_PORT: String(port),
        RECEIVER_SECRETS: `whsec_${randomBytes(32).toString('base64')}`,
      },
      readyUrl: `http://127.0.0.1:${port}/summary`,
      logDir: mkdtempSync(path.join(os.tmpdir(), 'gridpulse-service-')),
    };
    const launcher = spawn(process.execPath, ['-e', LAUNCHER], {
      cwd: REPO_ROOT,
      env: { ...process.env, TEST_SPEC: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const servicePid = () => Number(readFileSync(path.join(spec.logDir, 'webhook-receiver.pid')));
    try {
      await new Promise((resolve) => launcher.stdout.once('data', resolve));
      const pid = servicePid();

      await expect(createServiceProcess(spec).start(5_000)).rejects.toThrow(
        `another gridpulse start (pid ${launcher.pid}) runs this pipeline (pid ${pid}`,
      );
      expect(isProcessAlive(pid)).toBe(true);

      // Its launcher killed outright: the service stops itself and can still log that.
      launcher.kill('SIGKILL');
      await waitFor(() => !isProcessAlive(pid), { timeoutMs: 15_000, what: 'the service to stop' });
      expect(readFileSync(path.join(spec.logDir, 'webhook-receiver.log'), 'utf8')).toContain(
        '"msg":"receiver stopped"',
      );
    } finally {
      launcher.kill('SIGKILL');
    }
  }, 60_000);

  it('takes over a service whose launcher is a zombie, as one killed with SIGKILL is at first', async () => {
    // `true` exits and stays a zombie: the shell that forked it becomes `sleep`, which never
    // reaps a child.
    const parent = spawn('sh', ['-c', 'true & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await freePort();
    const spec: ServiceProcessSpec = {
      name: 'webhook-receiver',
      entry: 'services/webhook-receiver/main.ts',
      env: {
        ...process.env,
        RECEIVER_PORT: String(port),
        RECEIVER_SECRETS: `whsec_${randomBytes(32).toString('base64')}`,
      },
      readyUrl: `http://127.0.0.1:${port}/summary`,
      logDir: mkdtempSync(path.join(os.tmpdir(), 'gridpulse-service-')),
    };
    let leftover: ReturnType<typeof spawn> | undefined;
    const service = createServiceProcess(spec);
    try {
      const zombiePid = Number(
        await new Promise<string>((resolve) =>
          parent.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8'))),
        ),
      );
      await waitFor(() => processState(zombiePid) === 'Z', { what: 'the zombie' });
      // A leftover "service" of that launcher: its command line names the entry.
      leftover = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', spec.entry], {
        env: { ...process.env, GRIDPULSE_LAUNCHER_PID: String(zombiePid) },
        stdio: 'ignore',
      });
      const leftoverPid = leftover.pid!;
      writeFileSync(path.join(spec.logDir, 'webhook-receiver.pid'), String(leftoverPid));

      expect(isProcessAlive(zombiePid)).toBe(false);
      await service.start(30_000);
      expect(service.isRunning()).toBe(true);
      expect(isProcessAlive(leftoverPid)).toBe(false);
    } finally {
      await service.stop();
      leftover?.kill('SIGKILL');
      parent.kill('SIGKILL');
    }
  }, 60_000);
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

/** The state letter of /proc/<pid>/stat (R, S, Z, …), or null when it is gone. */
function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}
