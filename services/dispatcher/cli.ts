import { Command, InvalidArgumentError } from 'commander';
import { createAvroSerde } from '../common/avro';
import { createCliKafka, explainCliError, requireTopics } from '../common/cli-kafka';
import { consumerGroupId, resolveTopics, type TopicName } from '../common/topics';
import { loadDispatcherConfig, parseDurationMs } from './config';
import { redactDestination, type Destination, type DestinationInput } from './destination';
import { createDestinationManager, type DestinationManager } from './destinations';
import { RETRY_TIER_TOPICS } from './retry-tiers';
import { replayDead, replaySince, type ReplayDeps } from './replay';

/**
 * `gridpulse destinations`: manage webhook destinations on destinations.v1 and replay
 * deliveries. A secret is printed once, by `create` and `rotate-secret`; `list` masks them.
 */
export function destinationsCommand(): Command {
  const command = new Command('destinations').description(
    'webhook destinations the dispatcher delivers to',
  );

  withInputOptions(
    command
      .command('create')
      .alias('add')
      .description('create a destination (prints its secret once)'),
  )
    .requiredOption('--url <url>', 'https URL receiving the POSTs')
    .action(async (flags: InputFlags & { url: string }) => {
      const created = await withManager((manager) =>
        manager.create(toInput(flags) as DestinationInput),
      );
      print(
        JSON.stringify(
          {
            ...redactDestination(created),
            secrets: undefined,
            secret: created.secrets[0]!.secret,
          },
          null,
          2,
        ),
      );
    });

  command
    .command('list')
    .description('list destinations (secrets masked)')
    .option('--json', 'one JSON object per line')
    .action(async (flags: { json?: boolean }) => {
      const destinations = await withManager((manager) => manager.list());
      for (const destination of destinations) {
        if (flags.json) print(JSON.stringify(redactDestination(destination)));
        else print(describe(destination));
      }
      if (!flags.json) print(`destinations: ${destinations.length}`);
    });

  withInputOptions(command.command('update <id>').description('change fields of a destination'))
    .option('--url <url>', 'new URL')
    .action(async (id: string, flags: InputFlags & { url?: string }) => {
      const updated = await withManager((manager) => manager.update(id, toInput(flags)));
      print(describe(updated));
    });

  command
    .command('disable <id>')
    .description('stop delivering to a destination')
    .option('--reason <text>', 'why', 'disabled by an operator')
    .action(async (id: string, flags: { reason: string }) => {
      print(describe(await withManager((manager) => manager.disable(id, flags.reason))));
    });

  command
    .command('enable <id>')
    .description('resume delivering to a destination')
    .action(async (id: string) => {
      print(describe(await withManager((manager) => manager.enable(id))));
    });

  command
    .command('rotate-secret <id>')
    .description(
      'new signing secret; the old one keeps signing for the overlap (prints the new one)',
    )
    .option('--overlap <duration>', "how long the old secret keeps signing, e.g. '24h'")
    .action(async (id: string, flags: { overlap?: string }) => {
      const overlapMs = flags.overlap === undefined ? undefined : parseDurationMs(flags.overlap);
      if (flags.overlap !== undefined && overlapMs === undefined)
        throw new Error(`bad --overlap ${flags.overlap}`);
      const rotated = await withManager((manager) => manager.rotateSecret(id, { overlapMs }));
      print(
        JSON.stringify(
          {
            id,
            secret: rotated.secrets[0]!.secret,
            previousExpireAt: rotated.secrets
              .slice(1)
              .map((s) => new Date(s.expiresAt ?? 0).toISOString()),
          },
          null,
          2,
        ),
      );
    });

  command
    .command('delete <id>')
    .description('delete a destination (tombstone on destinations.v1)')
    .action(async (id: string) => {
      await withManager((manager) => manager.delete(id));
      print(`destinations: deleted ${id}`);
    });

  command
    .command('replay <id>')
    .description('re-send events since a time (--since) or what is dead for it (--dead)')
    .option(
      '--since <time>',
      "ISO time or a duration back from now, e.g. '2024-08-22T15:00:00Z' or '6h'",
    )
    .option('--dead', 're-send what deliveries.dead.v1 holds for this destination')
    .action(async (id: string, flags: { since?: string; dead?: boolean }) => {
      if (!flags.since && !flags.dead) throw new Error('give --since <time> or --dead');
      const result = await withManager(async (manager, deps) => {
        const destination = await manager.get(id);
        const totals = { scanned: 0, enqueued: 0 };
        if (flags.since) {
          const since = await replaySince(deps, destination, parseSince(flags.since, deps.now()));
          totals.scanned += since.scanned;
          totals.enqueued += since.enqueued;
        }
        if (flags.dead) {
          const dead = await replayDead(deps, destination);
          totals.scanned += dead.scanned;
          totals.enqueued += dead.enqueued;
        }
        return totals;
      }, replayTopics(flags));
      print(
        `destinations: replay of ${id} queued ${result.enqueued} deliveries (${result.scanned} records read)`,
      );
    });

  return command;
}

interface InputFlags {
  description?: string;
  workspace?: string;
  eventTypes?: string;
  deviceTypes?: string;
  header?: Array<[string, string]>;
  rateLimit?: number;
  timeoutMs?: number;
}

function withInputOptions(command: Command): Command {
  return command
    .option('--description <text>', 'free text')
    .option('--workspace <id>', 'only events of this workspace')
    .option(
      '--event-types <list>',
      'comma-separated, e.g. device.updated,device.disconnected (empty: all)',
    )
    .option('--device-types <list>', 'comma-separated, e.g. battery,inverter (empty: all)')
    .option('--header <name=value>', 'custom header (repeatable)', collectHeader)
    .option('--rate-limit <perSecond>', 'deliveries per second at most', parseRateLimit)
    .option('--timeout-ms <ms>', 'per-attempt timeout (default 10000)', parseTimeoutMs);
}

/**
 * Checked here rather than by commander: its error for a bad argument quotes the argument,
 * and a header's value is often a credential.
 */
function collectHeader(pair: string, all: Array<[string, string]> = []): Array<[string, string]> {
  const at = pair.indexOf('=');
  const name = at < 0 ? '' : pair.slice(0, at).trim();
  if (!name) {
    throw new Error(
      "option '--header <name=value>': expected name=value, e.g. authorization=Bearer … " +
        '(what was given is not repeated: it may hold a secret)',
    );
  }
  return [...all, [name, pair.slice(at + 1)]];
}

function parseRateLimit(text: string): number {
  const perSecond = Number(text);
  if (text.trim() === '' || !(perSecond > 0)) {
    throw new InvalidArgumentError('expected deliveries per second, a number above 0, e.g. 10');
  }
  return perSecond;
}

function parseTimeoutMs(text: string): number {
  const timeoutMs = Number(text);
  if (text.trim() === '' || !Number.isInteger(timeoutMs)) {
    throw new InvalidArgumentError('expected milliseconds, a whole number, e.g. 10000');
  }
  return timeoutMs;
}

function toInput(flags: InputFlags & { url?: string }): Partial<DestinationInput> {
  const list = (text: string | undefined) =>
    text === undefined
      ? undefined
      : text
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean);
  const headers = flags.header ? Object.fromEntries(flags.header) : undefined;
  return {
    url: flags.url,
    description: flags.description,
    workspaceId: flags.workspace,
    eventTypes: list(flags.eventTypes),
    deviceTypes: list(flags.deviceTypes),
    headers,
    rateLimitPerSecond: flags.rateLimit,
    timeoutMs: flags.timeoutMs,
  };
}

function replayTopics(flags: { since?: string; dead?: boolean }): TopicName[] {
  return [
    RETRY_TIER_TOPICS[0],
    ...(flags.since ? (['events.v1'] as const) : []),
    ...(flags.dead ? (['deliveries.dead.v1'] as const) : []),
  ];
}

function parseSince(text: string, nowMs: number): number {
  const back = parseDurationMs(text);
  if (back !== undefined) return nowMs - back;
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new Error(`bad --since ${text}: an ISO time or a duration like 6h`);
  return at;
}

/** `extraTopics`: what the command reads or writes besides destinations.v1. */
async function withManager<T>(
  work: (manager: DestinationManager, deps: ReplayDeps) => Promise<T>,
  extraTopics: TopicName[] = [],
): Promise<T> {
  const config = loadDispatcherConfig();
  const kafka = createCliKafka(config.connectivity);
  const serde = createAvroSerde(config.connectivity);
  const topics = resolveTopics(config.connectivity.topicPrefix);
  const needed: TopicName[] = ['destinations.v1', ...extraTopics];
  await requireTopics(
    kafka,
    config.connectivity,
    needed.map((name) => topics[name]),
  );
  const groupPrefix = consumerGroupId('dispatcher-cli', config.connectivity.topicPrefix);
  const manager = createDestinationManager({
    kafka,
    serde,
    topics,
    groupPrefix,
    allowPrivateUrls: config.allowPrivateUrls,
    secretOverlapMs: config.secretOverlapMs,
  });
  try {
    return await work(manager, { kafka, serde, topics, groupPrefix, now: Date.now });
  } catch (err) {
    throw explainCliError(err, config.connectivity);
  } finally {
    await manager.close();
  }
}

function describe(destination: Destination): string {
  const state = destination.enabled ? 'enabled ' : `disabled (${destination.disabledReason ?? ''})`;
  const filters = [
    destination.eventTypes.length ? `types=${destination.eventTypes.join(',')}` : 'types=*',
    destination.deviceTypes.length ? `devices=${destination.deviceTypes.join(',')}` : 'devices=*',
  ].join(' ');
  return `${destination.id}  ${state}  ${destination.url}  ${filters}  secrets=${destination.secrets.length}`;
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}
