import { Command, CommanderError } from 'commander';
import { destinationsCommand } from '../dispatcher/cli';
import { simulatorCommand } from '../oem-simulator/cli';
import { connectionsCommand } from '../poller/cli';
import { stackCommand } from './stack';
import { startCommand, type OutputHooks } from './start';
import { topicsCommand } from './topics';

/**
 * `gridpulse`: one entry point for running the pipeline and operating its parts. Each service
 * contributes its own sub-commands; this file only mounts them.
 */
export function createProgram(output?: OutputHooks): Command {
  const program = new Command('gridpulse')
    .description(
      'device-telemetry ingestion: OEM polling → Kafka → change events → signed webhooks',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program.addCommand(startCommand(output));
  program.addCommand(stackCommand());
  program.addCommand(topicsCommand());
  program.addCommand(connectionsCommand());
  program.addCommand(destinationsCommand());
  program.addCommand(simulatorCommand());
  return program;
}

/** Parses `argv` and runs the command; bad arguments and failures set a non-zero exit code. */
export async function runCli(argv: string[]): Promise<void> {
  // `gridpulse connections list | head`: the reader left, which is no error of ours. A command
  // with services to stop (start) takes this over: exiting here would SIGKILL them.
  let onOutputClosed: () => void = () => process.exit(process.exitCode ?? 0);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    onOutputClosed();
  });
  const output: OutputHooks = { onOutputClosed: (handler) => (onOutputClosed = handler) };
  try {
    await createProgram(output).parseAsync(argv);
  } catch (err: unknown) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    // The code is what docs/errors.md is organised by.
    const code = errorCodeOf(err);
    process.stderr.write(`gridpulse: ${message}${code ? ` (${code})` : ''}\n`);
    process.exitCode = 1;
  }
}

function errorCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('GP_') ? code : undefined;
}

// `node --import tsx services/cli/main.ts …` (the container image); bin/gridpulse.js calls
// runCli itself, since under npx its path is a link named `gridpulse`, not this file.
if (require.main === module) void runCli(process.argv);
