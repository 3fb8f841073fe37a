import { exitOnStartFailure } from '../common/start-failure';
import { runSimulatorProcess } from './cli';
import { parseSimulatorEnv } from './config';

// Process entry: `npx tsx services/oem-simulator/main.ts`, configured by SIM_* variables.
// Parsed inside the promise, so that a bad variable ends like any other start-up failure.
Promise.resolve()
  .then(() => runSimulatorProcess(parseSimulatorEnv()))
  .catch(exitOnStartFailure('oem-simulator'));
