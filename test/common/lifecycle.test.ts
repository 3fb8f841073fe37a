import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../../services/cli/service-process';
import { LAUNCHER_PID_ENV } from '../../services/common/lifecycle';
import { waitFor } from '../support/kafka';

const REPO_ROOT = path.join(__dirname, '../..');

/**
 * A launcher, as `gridpulse start` is one, that starts the example receiver in its own process
 * group with its log in a file (so the receiver can still write after the launcher is gone),
 * prints the receiver's pid, and waits.
 */
const LAUNCHER = `
const { spawn } = require('node:child_process');
const { openSync } = require('node:fs');
const log = openSync(process.env.TEST_LOG, 'a');
const child = spawn(process.execPath, ['--import', 'tsx', 'services/webhook-receiver/main.ts'], {
  cwd: process.env.TEST_ROOT,
  env: { ...process.env, ${LAUNCHER_PID_ENV}: String(process.pid) },
  stdio: ['ignore', log, log],
  detached: true,
});
process.stdout.write(child.pid + '\\n');
setInterval(() => undefined, 1000);
`;

describe('onShutdownSignal', () => {
  it('stops a service cleanly when the launcher that started it is killed outright', async () => {
    const logFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'gridpulse-launcher-')), 'log');
    const launcher = spawn(process.execPath, ['-e', LAUNCHER], {
      env: {
        ...process.env,
        TEST_LOG: logFile,
        TEST_ROOT: REPO_ROOT,
        RECEIVER_SECRETS: `whsec_${randomBytes(32).toString('base64')}`,
        RECEIVER_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const servicePid = await new Promise<number>((resolve) =>
      launcher.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString()))),
    );
    const log = () => readFileSync(logFile, 'utf8');
    try {
      await waitFor(() => log().includes('receiver listening'), {
        timeoutMs: 20_000,
        what: 'the receiver to listen',
      });

      launcher.kill('SIGKILL');

      await waitFor(() => !isProcessAlive(servicePid), {
        timeoutMs: 15_000,
        what: 'the orphaned receiver to stop',
      });
      expect(log()).toContain('"msg":"receiver stopped"');
    } finally {
      launcher.kill('SIGKILL');
      if (isProcessAlive(servicePid)) process.kill(servicePid, 'SIGKILL');
    }
  }, 40_000);
});
