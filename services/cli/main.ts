import { Command, CommanderError } from 'commander';
import { destinationsCommand } from '../dispatcher/cli';
import { simulatorCommand } from '../oem-simulator/cli';
import { connectionsCommand } from '../poller/cli';
import { stackCommand } from './stack';
import { startCommand } from './start';
import { topicsCommand } from './topics';

/**
 * `gridpulse`: one entry point for running the pipeline and operating its parts. Each service
 * contributes its own sub-commands; this file only mounts them.
 */
export function createProgram(): Command {
  const program = new Command('gridpulse')
    .description(
      'device-telemetry ingestion: OEM polling → Kafka → change events → signed webhooks',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program.addCommand(startCommand());
  program.addCommand(stackCommand());
  program.addCommand(topicsCommand());
  program.addCommand(connectionsCommand());
  program.addCommand(destinationsCommand());
  program.addCommand(simulatorCommand());
  return program;
}

if (require.main === module || process.argv[1]?.endsWith('gridpulse.js')) {
  createProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      if (err instanceof CommanderError) {
        process.exitCode = err.exitCode;
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`gridpulse: ${message}\n`);
      process.exitCode = 1;
    });
}
