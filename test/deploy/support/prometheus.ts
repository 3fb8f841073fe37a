import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.join(__dirname, '../../..');
export const PROMETHEUS_DIR = path.join(REPO_ROOT, 'deploy/prometheus');

/**
 * The path of a required binary. Throws (so the test fails, never skips) when it is missing:
 * `.ci/run` installs Debian's `prometheus` package, which provides both prometheus and promtool.
 */
export function requireTool(name: 'promtool' | 'prometheus' | 'kubectl'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const location = found.stdout.trim();
  if (found.status !== 0 || location === '') {
    const hint =
      name === 'kubectl'
        ? 'install kubectl (Debian: kubernetes-client) as .ci/run does'
        : "install Debian's prometheus package (apt-get install prometheus) as .ci/run does";
    throw new Error(`${name} is not on PATH: ${hint}`);
  }
  return location;
}

export interface ToolResult {
  status: number | null;
  output: string;
}

/** Runs promtool with `args` (and `input` on stdin), from deploy/prometheus. */
export function runPromtool(args: string[], input?: string): ToolResult {
  const result = spawnSync(requireTool('promtool'), args, {
    cwd: PROMETHEUS_DIR,
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * `promtool check metrics` on an exposition, with its findings. (prom-client's three `_total`
 * gauges that promtool rejects are removed at the source, in services/common/metrics.ts.)
 */
export function checkMetrics(exposition: string): { status: number | null; findings: string[] } {
  const result = runPromtool(['check', 'metrics'], exposition);
  const findings = result.output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return { status: result.status, findings };
}

/** A TCP port that was free a moment ago (for binaries that cannot be told to pick port 0). */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface PrometheusTarget {
  /** Becomes the `component` label of every series scraped from it. */
  name: string;
  /** host:port */
  address: string;
}

export interface RunningPrometheus {
  url: string;
  /** An instant query; the result vector of `expr`. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** The single value of a query whose result has one series; null when it has none. */
  scalar(expr: string): Promise<number | null>;
  activeTargets(): Promise<
    Array<{ labels: Record<string, string>; health: string; lastError: string }>
  >;
  ruleGroups(): Promise<
    Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }>
  >;
  output(): string;
  stop(): Promise<void>;
}

/**
 * The real Prometheus binary on 127.0.0.1, a free port and a temporary data directory,
 * scraping `targets` every second and evaluating the repository's alert rules every second.
 */
export async function startPrometheus(targets: PrometheusTarget[]): Promise<RunningPrometheus> {
  const binary = requireTool('prometheus');
  const dir = mkdtempSync(path.join(tmpdir(), 'gridpulse-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(configFile, scrapeConfig(targets));
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;

  let output = '';
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise((resolve) => (timer = setTimeout(resolve, 10_000)));
    await Promise.race([exited, grace]).finally(() => clearTimeout(timer));
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };

  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const response = await fetch(`${url}${pathAndQuery}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${pathAndQuery}: ${body.error}`);
    return body.data;
  };

  const query = async (expr: string) => {
    const data = await api<{
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    return data.result.map((row) => ({ metric: row.metric, value: Number(row.value[1]) }));
  };

  await waitForReady(url, child, () => output).catch(async (err: unknown) => {
    await stop();
    throw err;
  });

  return {
    url,
    query,
    async scalar(expr) {
      const rows = await query(expr);
      if (rows.length > 1) throw new Error(`${expr} returned ${rows.length} series, expected one`);
      return rows[0]?.value ?? null;
    },
    async activeTargets() {
      const data = await api<{
        activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }>;
      }>('/api/v1/targets?state=active');
      return data.activeTargets;
    },
    async ruleGroups() {
      const data = await api<{
        groups: Array<{
          name: string;
          rules: Array<{ name: string; health: string; lastError?: string }>;
        }>;
      }>('/api/v1/rules');
      return data.groups;
    },
    output: () => output,
    stop,
  };
}

function scrapeConfig(targets: PrometheusTarget[]): string {
  const rules = path.join(PROMETHEUS_DIR, 'rules', '*.yml');
  const staticConfigs = targets
    .map((target) =>
      [
        `      - targets: [${JSON.stringify(target.address)}]`,
        `        labels: { component: ${JSON.stringify(target.name)} }`,
      ].join('\n'),
    )
    .join('\n');
  return [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    `  - ${JSON.stringify(rules)}`,
    'scrape_configs:',
    '  - job_name: gridpulse',
    '    static_configs:',
    staticConfigs,
    '',
  ].join('\n');
}

async function waitForReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`prometheus exited with ${child.exitCode}: ${output()}`);
    }
    const ready = await fetch(`${url}/-/ready`)
      .then((response) => response.ok)
      .catch(() => false);
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`prometheus not ready after 30 s: ${output()}`);
}
