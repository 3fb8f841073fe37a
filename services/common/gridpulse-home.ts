import path from 'node:path';

/**
 * Where gridpulse keeps what it fetches and runs on this machine: $GRIDPULSE_HOME, else
 * ~/.cache/gridpulse (as deploy/local/stack resolves it).
 */
export function gridpulseHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.GRIDPULSE_HOME || path.join(env.HOME ?? '.', '.cache/gridpulse');
}

/** The key `gridpulse start` encrypts connection credentials with. */
export function pipelineCredentialsKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(gridpulseHome(env), 'run/pipeline/credentials.key');
}
