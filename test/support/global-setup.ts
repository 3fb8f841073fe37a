import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Brings up the local stack (deploy/local/stack) unless KAFKA_BROKERS points at one already.
 * A stack that was already running is reused and left running; one started here is stopped by
 * global-teardown.ts (unless GRIDPULSE_KEEP_STACK=1).
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.KAFKA_BROKERS) {
    process.stdout.write(
      `\nusing the configured stack: KAFKA_BROKERS=${process.env.KAFKA_BROKERS}\n`,
    );
    return;
  }

  const stack = path.join(__dirname, '../../deploy/local/stack');
  const wasRunning = isRunning(stack);
  process.stdout.write('\n');
  execFileSync(stack, ['up'], { stdio: ['ignore', 'inherit', 'inherit'] });

  process.env.KAFKA_BROKERS = `127.0.0.1:${process.env.KAFKA_PORT ?? 9092}`;
  process.env.SCHEMA_REGISTRY_URL = `http://127.0.0.1:${process.env.REGISTRY_PORT ?? 8081}/apis/ccompat/v7`;
  process.env.GRIDPULSE_TEST_STARTED_STACK = wasRunning ? '' : '1';
}

function isRunning(stack: string): boolean {
  try {
    execFileSync(stack, ['status'], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // status exits non-zero when any part is stopped
  }
}
