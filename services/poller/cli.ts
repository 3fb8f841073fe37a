import { Command, InvalidArgumentError } from 'commander';
import { createAvroSerde } from '../common/avro';
import { baseEnvSchema, parseEnv, toConnectivityConfig } from '../common/config';
import { pipelineCredentialsKeyFile } from '../common/gridpulse-home';
import { createCliKafka, explainCliError, requireTopics } from '../common/cli-kafka';
import { resolveTopics } from '../common/topics';
import { pollerEnvSchema } from './config';
import { describeConnection, type Connection } from './connection';
import {
  connectionFromFlags,
  fetchSimulatorConnections,
  type ConnectionFlags,
} from './connection-registration';
import { createConnectionWriter, readAllConnections } from './connection-store';

/**
 * `gridpulse connections`: register OEM accounts on connections.v1 and list them. Secrets go
 * in through flags or the simulator and never come out: `list` prints which are set, not
 * their values.
 */
export function connectionsCommand(): Command {
  const command = new Command('connections').description('OEM accounts the pollers poll');

  command
    .command('add')
    .description('register one connection from flags, or every account of a simulator')
    .option(
      '--from-simulator <url>',
      'register every account of an oem-simulator at <url>',
      parseSimulatorUrl,
    )
    .option('--oem <oem>', 'tesla or enphase')
    .option('--id <connectionId>', 'connection id (default: a new UUID)')
    .option('--workspace <id>', 'workspace id')
    .option('--organization <id>', 'organization id')
    .option('--customer <id>', 'customer id')
    .option('--site <id>', 'site id')
    .option('--site-name <name>', 'site display name')
    .option('--client-id <id>', 'OAuth client id')
    .option('--client-secret <secret>', 'OAuth client secret')
    .option('--api-key <key>', 'API key (Enphase)')
    .option('--access-token <token>', 'current access token')
    .option('--refresh-token <token>', 'current refresh token')
    .option('--disabled', 'register without polling it')
    .action(async (flags: Partial<ConnectionFlags> & { fromSimulator?: string }) => {
      const connections = flags.fromSimulator
        ? await fetchSimulatorConnections(flags.fromSimulator)
        : [connectionFromFlags(requireFlags(flags))];
      await withStore(async ({ writer }) => {
        for (const connection of connections) await writer.put(connection);
      });
      for (const connection of connections) {
        print(`connections: registered ${connection.connectionId} (${connection.oem})`);
      }
    });

  command
    .command('list')
    .description('list registered connections (secrets are never printed)')
    .option('--json', 'one JSON object per line')
    .action(async (flags: { json?: boolean }) => {
      // By id, the failure of its latest record: a later tombstone or valid revision clears it.
      const unreadable = new Map<string, string>();
      // The read stops at the first record the registry cannot serve (it rejects with that
      // error): one error naming the registry, not a count of records that all fail alike.
      const connections = await withStore(({ read }) =>
        read({
          onInvalid: (connectionId, err) => unreadable.set(connectionId ?? '?', errorCode(err)),
          onChange: ({ connectionId }) => unreadable.delete(connectionId),
        }),
      );
      for (const connection of [...connections.values()].sort(byId)) {
        const safe = describeConnection(connection);
        if (flags.json) print(JSON.stringify(safe));
        else {
          print(
            `${safe.connectionId}  ${safe.oem.padEnd(8)} ${safe.enabled ? 'enabled ' : 'disabled'}` +
              `  workspace=${safe.workspaceId} site=${safe.site.id}` +
              `  credentials=[${safe.credentialsSet.join(',')}]`,
          );
        }
      }
      if (!flags.json) print(`connections: ${connections.size}`);
      if (unreadable.size > 0) {
        const codes = new Set(unreadable.values());
        const hint = codes.has('GP_CREDENTIALS_UNDECRYPTABLE')
          ? "set CREDENTIALS_ENCRYPTION_KEY to the services' key " +
            `(gridpulse start keeps it in ${pipelineCredentialsKeyFile()})`
          : 'see docs/errors.md for the codes';
        process.stderr.write(
          `connections: ${unreadable.size} more could not be read (${[...codes].join(', ')}); ${hint}\n`,
        );
        process.exitCode = 1;
      }
    });

  return command;
}

async function withStore<T>(
  work: (store: {
    writer: ReturnType<typeof createConnectionWriter>;
    read: (
      listeners: Pick<Parameters<typeof readAllConnections>[0], 'onInvalid' | 'onChange'>,
    ) => Promise<Map<string, Connection>>;
  }) => Promise<T>,
): Promise<T> {
  const env = parseEnv(connectionsEnvSchema);
  const config = toConnectivityConfig(env, 'cli');
  // With the key the services use, written encrypted (as the admin API writes) and readable.
  const credentialsKey = env.CREDENTIALS_ENCRYPTION_KEY
    ? { id: env.CREDENTIALS_ENCRYPTION_KEY_ID, key: env.CREDENTIALS_ENCRYPTION_KEY }
    : undefined;
  const kafka = createCliKafka(config);
  const serde = createAvroSerde(config);
  const topic = resolveTopics(config.topicPrefix)['connections.v1'];
  await requireTopics(kafka, config, [topic]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  try {
    await producer.connect();
    return await work({
      writer: createConnectionWriter({ producer, serde, topic, credentialsKey }),
      read: (listeners) =>
        readAllConnections({ kafka, serde, topic, credentialsKey, ...listeners }),
    });
  } catch (err) {
    throw explainCliError(err, config);
  } finally {
    await producer.disconnect();
  }
}

const connectionsEnvSchema = baseEnvSchema.extend(
  pollerEnvSchema.pick({ CREDENTIALS_ENCRYPTION_KEY: true, CREDENTIALS_ENCRYPTION_KEY_ID: true })
    .shape,
);

function requireFlags(flags: Partial<ConnectionFlags>): ConnectionFlags {
  const required = ['oem', 'workspace', 'organization', 'customer', 'site'] as const;
  const missing = required.filter((key) => !flags[key]);
  if (missing.length > 0) {
    throw new Error(`connections add: missing ${missing.map((key) => `--${key}`).join(', ')}`);
  }
  return flags as ConnectionFlags;
}

function parseSimulatorUrl(text: string): string {
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) {
    throw new InvalidArgumentError("expected the simulator's http URL, e.g. http://127.0.0.1:8090");
  }
  return text;
}

function byId(a: Connection, b: Connection): number {
  return a.connectionId.localeCompare(b.connectionId);
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'undecodable';
}
