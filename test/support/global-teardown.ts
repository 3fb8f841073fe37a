import { execFileSync } from 'node:child_process';
import path from 'node:path';

export default async function globalTeardown(): Promise<void> {
  if (process.env.GRIDPULSE_TEST_STARTED_STACK !== '1') return;
  if (process.env.GRIDPULSE_KEEP_STACK === '1') return;
  const stack = path.join(__dirname, '../../deploy/local/stack');
  execFileSync(stack, ['down'], { stdio: ['ignore', 'inherit', 'inherit'] });
}
