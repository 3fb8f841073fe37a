import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Command } from 'commander';

export const STACK_SCRIPT = path.join(__dirname, '../../deploy/local/stack');

/** Runs deploy/local/stack with `args`, output straight to the terminal; returns its exit code. */
export function runStackScript(args: string[]): number {
  const result = spawnSync(STACK_SCRIPT, args, { stdio: 'inherit' });
  return result.status ?? 1;
}

export function stackCommand(): Command {
  const command = new Command('stack').description(
    'the local Kafka + Apicurio Registry stack (plain JVM processes, fetched from Maven Central)',
  );
  const passThrough = (name: string, description: string) =>
    command
      .command(name)
      .description(description)
      .option('--cluster', 'the three-broker variant on ports 19092-19094')
      .action((options: { cluster?: boolean }) => {
        process.exitCode = runStackScript([name, ...(options.cluster ? ['--cluster'] : [])]);
      });

  passThrough('up', 'start the stack, or reuse what is already running, and wait until ready');
  passThrough('down', 'stop the stack');
  passThrough('status', 'show what runs and where the logs are (exit 1 if anything is stopped)');
  passThrough('logs', 'follow the stack logs');
  // The script's reset works on the single stack only: the cluster starts from empty storage
  // every time (`down --cluster` deletes it), so there is no --cluster here.
  command
    .command('reset')
    .description(
      'stop the single-broker stack and delete its data under $GRIDPULSE_HOME/run/single: ' +
        "Kafka's topics, records and offsets, its cluster id and the registry's schemas " +
        '(downloaded jars and logs are kept); the next `up` starts empty',
    )
    .action(() => {
      process.exitCode = runStackScript(['reset']);
    });
  command
    .command('stop-broker <n>')
    .description('kill broker n (1-3) of the cluster, for fault tests')
    .action((n: string) => {
      process.exitCode = runStackScript(['stop-broker', n]);
    });
  command
    .command('start-broker <n>')
    .description('start broker n (1-3) of the cluster again')
    .action((n: string) => {
      process.exitCode = runStackScript(['start-broker', n]);
    });
  return command;
}
