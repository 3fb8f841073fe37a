import { Command, InvalidArgumentError, Option } from 'commander';
import {
  ADMIN_API_PORT,
  defaultLogDir,
  MAX_PORT_SHIFT,
  PIPELINE_PORTS,
  PIPELINE_SERVICES,
  shiftPorts,
  startLocalPipeline,
  type LocalPipeline,
  type PipelineService,
  type ServiceExit,
} from './local-pipeline';
import { MAX_ACCOUNTS_PER_OEM } from '../oem-simulator/fleet';
import { runStackScript } from './stack';
import { createStatusCollector, formatStatus } from './status-line';
import { ensureTopics } from './topics';

interface StartFlags {
  tesla: number;
  enphase: number;
  interval: number;
  faults: number;
  offline: number;
  seed: number;
  services: PipelineService[];
  statusEvery: number;
  portBase: number;
}

/** How the command line tells a command that the reader of its stdout went away. */
export interface OutputHooks {
  /** Hands over what to do then (instead of exiting at once); the handler may run repeatedly. */
  onOutputClosed(handler: () => void): void;
}

/**
 * `gridpulse start` (what `npm start` runs): the whole pipeline on this machine. With nothing
 * configured it brings up the local stack; with KAFKA_BROKERS set it uses that cluster.
 */
export function startCommand(output?: OutputHooks): Command {
  return new Command('start')
    .description(
      'run the whole pipeline here: stack, topics, simulator, services, example receiver',
    )
    .option(
      '--tesla <n>',
      `simulated Tesla energy sites, at most ${MAX_ACCOUNTS_PER_OEM}`,
      fleetSize,
      150,
    )
    .option(
      '--enphase <n>',
      `simulated Enphase systems, at most ${MAX_ACCOUNTS_PER_OEM}`,
      fleetSize,
      150,
    )
    .option(
      '--interval <seconds>',
      'poll interval for every OEM (demo: seconds, not minutes)',
      atLeastOne,
      10,
    )
    .option(
      '--faults <rate>',
      'share of OEM requests the simulator fails on purpose, 0-1',
      fraction,
      0.02,
    )
    .option(
      '--offline <rate>',
      'share of devices the simulator takes offline at times, 0-1',
      fraction,
      0.01,
    )
    .option('--seed <n>', 'simulator seed: the same seed gives the same fleet', positiveInt, 1)
    .addOption(
      new Option('--services <list>', 'comma-separated services to run')
        .default([...PIPELINE_SERVICES], PIPELINE_SERVICES.join(','))
        .argParser(serviceList),
    )
    .option('--status-every <seconds>', 'seconds between status lines', atLeastOne, 5)
    .option(
      '--port-base <n>',
      `add n to every port the pipeline listens on (simulator ${PIPELINE_PORTS['oem-simulator']}, ` +
        `receiver ${PIPELINE_PORTS['webhook-receiver']}, admin API ${ADMIN_API_PORT}, ` +
        `metrics ${PIPELINE_PORTS.poller}-${PIPELINE_PORTS['admin-api']}), at most ${MAX_PORT_SHIFT}`,
      portShift,
      0,
    )
    .action(async (flags: StartFlags) => {
      process.exitCode = await runStart(flags, output);
    });
}

async function runStart(flags: StartFlags, output?: OutputHooks): Promise<number> {
  // `gridpulse start | head`: once the reader is gone, stop writing and stop as on Ctrl-C.
  let isOutputOpen = true;
  const outputClosed = new Promise<void>((resolve) => {
    output?.onOutputClosed(() => {
      isOutputOpen = false;
      resolve();
    });
  });
  const print = (line: string) => {
    if (isOutputOpen) process.stdout.write(`${line}\n`);
  };
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' };

  if (!process.env.KAFKA_BROKERS) {
    const code = runStackScript(['up']);
    if (code !== 0) return code;
  }
  if (!(await ensureTopics(env, print)))
    print('start: some topics differ from the declaration (see above)');

  const logDir = defaultLogDir();
  print(`start: service logs in ${logDir}/`);
  const startedAt = Date.now();
  // Wired in before the launch, so a service that crashes while the others start is restarted.
  const restarter = createRestarter(print);
  // Listened for from here on: a Ctrl-C during the launch would otherwise end this process at
  // once, leaving what started to stop itself (see LAUNCHER_PID_ENV) and its pid files behind.
  const stopRequested = listenForStopRequest(outputClosed);
  const launch = new AbortController();
  let isLaunching = true;
  void stopRequested.then(() => {
    if (!isLaunching) return;
    restarter.stop();
    launch.abort(new Error('stop requested during the launch'));
    print('start: stopping once the step under way is done, then what started (poller first)');
  });
  let pipeline: LocalPipeline;
  try {
    pipeline = await startLocalPipeline(
      {
        services: flags.services,
        fleet: { tesla: flags.tesla, enphase: flags.enphase },
        pollIntervalSeconds: flags.interval,
        faultRate: flags.faults,
        offlineRate: flags.offline,
        seed: flags.seed,
        env,
        logDir,
        ...shiftPorts(flags.portBase),
        onServiceExit: restarter.onServiceExit,
        signal: launch.signal,
      },
      (line) => print(`start: ${line}`),
    );
  } catch (err) {
    restarter.stop();
    if (launch.signal.aborted) {
      print(`start: stopped before the pipeline was up. Logs in ${logDir}/`);
      return 0;
    }
    print(`start: failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    isLaunching = false;
  }

  if (pipeline.adminApi) {
    const [first] = pipeline.adminApi.keys;
    print(
      `start: admin API on ${pipeline.adminApi.url} (OpenAPI at /openapi.json); demo keys, one per workspace:`,
    );
    for (const { workspaceId, key } of pipeline.adminApi.keys)
      print(`start:   ${workspaceId}  ${key}`);
    if (first)
      print(
        `start:   e.g. curl -H 'authorization: Bearer ${first.key}' ${pipeline.adminApi.url}/customers`,
      );
  }
  print('start: running; Ctrl-C stops everything');

  // Ctrl-C reaches only this process (the services run in their own process groups), so the
  // final figures are read while every service is still up.
  const collectStatus = createStatusCollector(pipeline);
  const statusTimer = setInterval(() => {
    void collectStatus().then((status) => print(formatStatus(status, Date.now() - startedAt)));
  }, flags.statusEvery * 1000);

  await stopRequested;
  restarter.stop();
  clearInterval(statusTimer);
  const finalStatus = await collectStatus();
  print('start: stopping (poller first, so the others drain what is in flight)');
  await pipeline.stop();
  print(`start: stopped. ${formatStatus(finalStatus, Date.now() - startedAt)}`);
  print(`start: logs in ${logDir}/; the stack keeps running (npx gridpulse stack down stops it)`);
  return 0;
}

/**
 * Restarts a service that exits on its own, as the restart policy says, with one line per
 * exit; stop() drops the restarts still pending.
 */
function createRestarter(print: (line: string) => void) {
  const policies = new Map<PipelineService, ReturnType<typeof createRestartPolicy>>();
  const pending = new Set<NodeJS.Timeout>();
  let isStopped = false;

  const onServiceExit = ({ name, service, code, signal, restart }: ServiceExit) => {
    if (isStopped) return;
    const policy = policies.get(name) ?? createRestartPolicy();
    policies.set(name, policy);
    const how = signal ?? `code ${code}`;
    const { crashes, delayMs } = policy.recordCrash(Date.now());
    if (delayMs === null) {
      print(
        `start: ${name} exited (${how}) ${crashes} times within ` +
          `${RESTART_WINDOW_MS / 60_000} min; left stopped, see ${service.logFile}`,
      );
      return;
    }

    print(
      `start: ${name} exited (${how}); restarting in ${delayMs / 1000} s, see ${service.logFile}`,
    );
    const timer = setTimeout(() => {
      pending.delete(timer);
      restart().then(
        (restarted) => {
          if (restarted) print(`start: ${name}: ready again`);
        },
        (err: unknown) =>
          print(`start: ${name}: restart failed: ${err instanceof Error ? err.message : err}`),
      );
    }, delayMs);
    pending.add(timer);
  };

  const stop = () => {
    isStopped = true;
    for (const timer of pending) clearTimeout(timer);
    pending.clear();
  };
  return { onServiceExit, stop };
}

const CRASHES_PER_WINDOW = 5;
const RESTART_WINDOW_MS = 5 * 60_000;

/**
 * A crashed service comes back after 1 s, then 2, 4 and 8 s; the CRASHES_PER_WINDOW-th crash
 * within RESTART_WINDOW_MS leaves it stopped (its log says why).
 */
export function createRestartPolicy() {
  const crashes: number[] = [];
  return {
    /** Counts a crash at `now`: how many the window holds, and the delay (null: stay down). */
    recordCrash(now: number): { crashes: number; delayMs: number | null } {
      while (crashes.length > 0 && now - crashes[0]! > RESTART_WINDOW_MS) crashes.shift();
      crashes.push(now);
      if (crashes.length >= CRASHES_PER_WINDOW) return { crashes: crashes.length, delayMs: null };
      return { crashes: crashes.length, delayMs: 1000 * 2 ** (crashes.length - 1) };
    },
  };
}

/**
 * Listens from now on and resolves at Ctrl-C or SIGTERM, or when the output's reader has gone.
 * A Ctrl-C while stopping means "now" (exit 130), except the first one after a stop the user
 * did not ask for.
 */
function listenForStopRequest(outputClosed: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const onStop = (cause: 'signal' | 'output') => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      let ignoredSignals = cause === 'output' ? 1 : 0;
      const onSignalWhileStopping = () => {
        if (ignoredSignals > 0) ignoredSignals -= 1;
        else process.exit(130);
      };
      process.on('SIGINT', onSignalWhileStopping);
      resolve();
    };
    const onSignal = () => onStop('signal');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    void outputClosed.then(() => onStop('output'));
  });
}

function positiveInt(value: string): number {
  return wholeNumber(value, 0, Number.MAX_SAFE_INTEGER, 'expected a whole number ≥ 0');
}

/** The simulator refuses a larger fleet at start-up, after the stack and topics are up. */
function fleetSize(value: string): number {
  const message = `expected a whole number from 0 to ${MAX_ACCOUNTS_PER_OEM}`;
  return wholeNumber(value, 0, MAX_ACCOUNTS_PER_OEM, message);
}

function atLeastOne(value: string): number {
  return wholeNumber(value, 1, Number.MAX_SAFE_INTEGER, 'expected a whole number ≥ 1');
}

function portShift(value: string): number {
  const message = `expected a whole number from 0 to ${MAX_PORT_SHIFT}`;
  return wholeNumber(value, 0, MAX_PORT_SHIFT, message);
}

/** Plain decimal digits only: Number() would also take '1e3', '0x10', ' 5' or '5.0'. */
function wholeNumber(value: string, min: number, max: number, message: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(message);
  return n;
}

function fraction(value: string): number {
  // Number('') and Number(' ') are 0: an empty value would silently mean "none".
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
}

function serviceList(value: string): PipelineService[] {
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(PIPELINE_SERVICES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown service ${unknown.join(', ')}; known: ${PIPELINE_SERVICES.join(', ')}`,
    );
  }
  if (names.length === 0)
    throw new InvalidArgumentError(`expected one or more of ${PIPELINE_SERVICES.join(', ')}`);
  return [...new Set(names)] as PipelineService[];
}
