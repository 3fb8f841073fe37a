import { createLogger } from '../common/logger';
import { runSimulatorProcess } from './cli';
import { parseSimulatorEnv } from './config';

// Process entry: `npx tsx services/oem-simulator/main.ts`, configured by SIM_* variables.
runSimulatorProcess(parseSimulatorEnv()).catch((err: unknown) => {
  createLogger({ service: 'oem-simulator' }).error({ err }, 'simulator failed to start');
  process.exit(1);
});
