import { Command } from 'commander';
import { runStackScript } from './stack';
import { ensureTopics } from './topics';

/**
 * `gridpulse start` (what `npm start` runs). With nothing configured it brings up the local
 * stack and provisions the topics; with KAFKA_BROKERS set it uses that cluster instead.
 */
export function startCommand(): Command {
  return new Command('start')
    .description('run gridpulse: local stack (unless KAFKA_BROKERS is set), topics, services')
    .action(async () => {
      if (!process.env.KAFKA_BROKERS) {
        const code = runStackScript(['up']);
        if (code !== 0) {
          process.exitCode = code;
          return;
        }
      }
      const topicsOk = await ensureTopics();
      if (!topicsOk) process.stderr.write('gridpulse: some topics differ from the declaration\n');
    });
}
