import { Command, InvalidArgumentError, Option } from 'commander';
import { onShutdownSignal } from '../common/lifecycle';
import { createLogger } from '../common/logger';
import { parseSimulatorEnv, SIM_ENV_DEFAULTS, toSimulatorOptions } from './config';
import { startSimulator } from './simulator';
import { FAULT_KINDS } from './types';

/** `gridpulse simulator`: runs the OEM simulator in the foreground until SIGTERM/SIGINT. */
export function simulatorCommand(): Command {
  return new Command('simulator')
    .description(
      'Run the OEM simulator: Tesla Fleet API (/tesla) and Enphase v4 (/enphase) stand-ins with a ' +
        'deterministic fleet and fault injection. Flags override the SIM_* environment variables.',
    )
    .addOption(
      new Option('--port <n>', 'listen port (0 = random)').argParser(toPort).env('SIM_PORT'),
    )
    .addOption(new Option('--host <host>', 'listen address').env('SIM_HOST'))
    .addOption(
      new Option('--seed <n>', 'seed of everything random').argParser(toInt).env('SIM_SEED'),
    )
    .addOption(
      new Option('--tesla <n>', 'Tesla energy sites (accounts)')
        .argParser(toInt)
        .env('SIM_TESLA_SITES'),
    )
    .addOption(
      new Option('--enphase <n>', 'Enphase systems (accounts)')
        .argParser(toInt)
        .env('SIM_ENPHASE_SYSTEMS'),
    )
    .addOption(
      new Option('--fault-rate <r>', 'rate 0..1 of each fault kind in --fault-kinds')
        .argParser(toRate)
        .env('SIM_FAULT_RATE'),
    )
    .addOption(
      new Option('--fault-kinds <list>', `comma list of ${FAULT_KINDS.join(', ')}`).env(
        'SIM_FAULT_KINDS',
      ),
    )
    .addOption(
      new Option('--offline-rate <r>', 'chance a device is offline in a lifecycle tick')
        .argParser(toRate)
        .env('SIM_OFFLINE_RATE'),
    )
    .addOption(
      new Option('--churn-rate <r>', 'chance a device is replaced in a lifecycle tick')
        .argParser(toRate)
        .env('SIM_CHURN_RATE'),
    )
    .addOption(
      new Option('--token-ttl <s>', 'access-token lifetime, seconds')
        .argParser(toInt)
        .env('SIM_TOKEN_TTL_SECONDS'),
    )
    .addHelpText(
      'after',
      `\nDefaults: port ${SIM_ENV_DEFAULTS.SIM_PORT}, ${SIM_ENV_DEFAULTS.SIM_TESLA_SITES} Tesla + ` +
        `${SIM_ENV_DEFAULTS.SIM_ENPHASE_SYSTEMS} Enphase sites, no faults. GET /_sim/accounts lists ` +
        'the credentials to register; see services/oem-simulator/README.md.',
    )
    .action(async (flags: Record<string, unknown>) => {
      const env = parseSimulatorEnv({ ...process.env, ...flagsToEnv(flags) });
      await runSimulatorProcess(env);
    });
}

/** Starts the simulator from a parsed env and stops it on the first SIGTERM/SIGINT. */
export async function runSimulatorProcess(
  env: ReturnType<typeof parseSimulatorEnv>,
): Promise<void> {
  const logger = createLogger({ service: 'oem-simulator', level: env.LOG_LEVEL });
  const sim = await startSimulator(toSimulatorOptions(env));
  logger.info(
    {
      port: sim.port,
      tesla: env.SIM_TESLA_SITES,
      enphase: env.SIM_ENPHASE_SYSTEMS,
      seed: env.SIM_SEED,
    },
    'simulator listening',
  );

  onShutdownSignal(
    async (signal) => {
      logger.info({ signal }, 'simulator stopping');
      await sim.stop();
      logger.info({}, 'simulator stopped');
    },
    { onForcedExit: (reason) => logger.error({ reason }, 'simulator forced exit') },
  );
}

function flagsToEnv(flags: Record<string, unknown>): Record<string, string> {
  const names: Record<string, string> = {
    port: 'SIM_PORT',
    host: 'SIM_HOST',
    seed: 'SIM_SEED',
    tesla: 'SIM_TESLA_SITES',
    enphase: 'SIM_ENPHASE_SYSTEMS',
    faultRate: 'SIM_FAULT_RATE',
    faultKinds: 'SIM_FAULT_KINDS',
    offlineRate: 'SIM_OFFLINE_RATE',
    churnRate: 'SIM_CHURN_RATE',
    tokenTtl: 'SIM_TOKEN_TTL_SECONDS',
  };
  const env: Record<string, string> = {};
  for (const [flag, name] of Object.entries(names)) {
    if (flags[flag] !== undefined) env[name] = String(flags[flag]);
  }
  return env;
}

function toInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new InvalidArgumentError('expected an integer');
  return parsed;
}

function toPort(value: string): number {
  const port = Number(value);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new InvalidArgumentError('expected a port, 0..65535');
  }
  return port;
}

function toRate(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError('expected a number 0..1');
  return parsed;
}
