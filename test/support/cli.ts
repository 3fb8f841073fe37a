import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

export const GRIDPULSE_BIN = path.join(__dirname, '../../bin/gridpulse.js');

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `gridpulse …` as a user would, in the test's environment plus `env`; resolves with its
 * exit code and output, never throws. An inherited LOG_LEVEL is dropped (the CLI takes a set
 * one as a wish to see kafkajs' lines): a test that wants one passes it in `env`.
 */
export async function gridpulse(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const { LOG_LEVEL: _inherited, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await run(process.execPath, [GRIDPULSE_BIN, ...args], {
      env: { ...inherited, ...env },
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}
