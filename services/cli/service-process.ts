import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { LAUNCHER_PID_ENV } from '../common/lifecycle';

const REPO_ROOT = path.join(__dirname, '../..');

export interface ServiceProcessSpec {
  /** e.g. 'poller'; also the log file's name. */
  name: string;
  /** Entry point relative to the repository root, e.g. 'services/poller/main.ts'. */
  entry: string;
  env: NodeJS.ProcessEnv;
  /** Polled until it answers 200 after a start. */
  readyUrl: string;
  logDir: string;
}

/**
 * One gridpulse service running as its own Node.js process, as in production: its own event
 * loop, its own /metrics, and killable on its own (the end-to-end test SIGKILLs them).
 */
export interface ServiceProcess {
  readonly spec: ServiceProcessSpec;
  readonly logFile: string;
  isRunning(): boolean;
  /** Starts the process (again) and resolves when its readyUrl answers 200. */
  start(timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once, no clean-up: a crash. */
  kill(): Promise<void>;
  /** Resolves with the exit code when the process exits on its own. */
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
}

export function createServiceProcess(spec: ServiceProcessSpec): ServiceProcess {
  mkdirSync(spec.logDir, { recursive: true });
  const logFile = path.join(spec.logDir, `${spec.name}.log`);
  const pidFile = path.join(spec.logDir, `${spec.name}.pid`);
  const exitListeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const isRunning = () =>
    child !== undefined && child.exitCode === null && child.signalCode === null;

  return {
    spec,
    logFile,
    isRunning,

    async start(timeoutMs = 60_000) {
      if (isRunning()) return;
      await stopLeftover(pidFile, spec.entry);
      // The log file itself as stdout and stderr, not a pipe through this process: a service
      // must still be able to write (its shutdown lines above all) after its launcher is gone.
      const log = openSync(logFile, 'a');
      // Its own process group: a Ctrl-C in the terminal reaches only the parent, which then
      // stops the services in order and reads their final figures first.
      const started = spawn(process.execPath, ['--import', 'tsx', spec.entry], {
        cwd: REPO_ROOT,
        env: { ...spec.env, [LAUNCHER_PID_ENV]: String(process.pid) },
        stdio: ['ignore', log, log],
        detached: true,
      });
      closeSync(log);
      writeFileSync(pidFile, String(started.pid));
      killOnParentExit(started);
      exited = new Promise((resolve) => {
        started.once('exit', (code, signal) => {
          rmSync(pidFile, { force: true });
          for (const listener of exitListeners) listener(code, signal);
          resolve();
        });
      });
      child = started;
      await waitUntilReady(spec, () => isRunning(), timeoutMs, logFile);
    },

    // Longer than a service's own shutdown timeout (30 s, common/lifecycle.ts), so a stuck
    // service says so in its log before it is killed.
    async stop(graceMs = 35_000) {
      if (!isRunning()) return;
      child!.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },

    async kill() {
      if (!isRunning()) return;
      child!.kill('SIGKILL');
      await exited;
    },

    onExit(listener) {
      exitListeners.push(listener);
    },
  };
}

const running = new Set<ChildProcess>();
let isExitHookInstalled = false;

/**
 * Detached children outlive a parent that exits without stopping them; this ends them with it.
 * (A parent killed with SIGKILL runs no hook: the services notice that themselves, see
 * LAUNCHER_PID_ENV, and the pid files let the next start end any that did not.)
 */
function killOnParentExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (isExitHookInstalled) return;
  isExitHookInstalled = true;
  process.once('exit', () => {
    for (const orphan of running) orphan.kill('SIGKILL');
  });
}

/**
 * What start() does first, for a caller that must know the service's ports are free before it
 * starts anything: ends a leftover `name` in `logDir`, as below, and resolves once it is gone.
 */
export function stopLeftoverService(logDir: string, name: string, entry: string): Promise<void> {
  return stopLeftover(path.join(logDir, `${name}.pid`), entry);
}

/**
 * Kills a service left running by an earlier launcher that was killed outright (it normally
 * stops itself within a second, see LAUNCHER_PID_ENV), and waits until it is gone, so its ports
 * are free. One whose launcher still runs belongs to another `gridpulse start` on the same
 * files: refuse rather than take its services away.
 */
async function stopLeftover(pidFile: string, entry: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8'));
  } catch {
    return; // no pid file: nothing left over
  }
  let environment: string;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(entry)) throw new Error('reused');
    environment = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    // Gone already, its pid reused, or not ours to check (no /proc): the port will tell.
    rmSync(pidFile, { force: true });
    return;
  }
  const launcher = Number(
    environment
      .split('\0')
      .find((entry) => entry.startsWith(`${LAUNCHER_PID_ENV}=`))
      ?.slice(LAUNCHER_PID_ENV.length + 1),
  );
  if (launcher > 0 && launcher !== process.pid && isProcessAlive(launcher)) {
    throw new Error(
      `another gridpulse start (pid ${launcher}) runs this pipeline (pid ${pid}, ${entry}): ` +
        'stop it first',
    );
  }
  process.kill(pid, 'SIGKILL');
  rmSync(pidFile, { force: true });
  const deadline = Date.now() + 10_000;
  while (isProcessAlive(pid) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Whether a process with this pid exists (signal 0 checks without sending anything) and has
 * not exited. signal 0 also succeeds for a zombie, such as a launcher killed with SIGKILL
 * whose parent has not reaped it yet; on Linux its state in /proc tells.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !isZombie(pid);
}

/** Linux only: the state field of /proc/<pid>/stat, after the parenthesised command name. */
function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // it existed a moment ago (signal 0): unreadable is no sign that it exited
  }
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

async function waitUntilReady(
  spec: ServiceProcessSpec,
  isRunning: () => boolean,
  timeoutMs: number,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning()) throw new Error(`${spec.name} exited during start-up: see ${logFile}`);
    try {
      const response = await request(spec.readyUrl, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      await response.body.dump();
      // Only while the child still runs: an answer after it died came from another process.
      if (response.statusCode === 200 && isRunning()) return;
    } catch {
      // Not listening yet: keep waiting until the deadline.
    }
    if (Date.now() > deadline)
      throw new Error(`${spec.name} not ready after ${timeoutMs} ms: see ${logFile}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
