import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './app';
import { commandResultEvent } from './event-payloads';
import { idempotencyHeaders, idParams, iso, MAX_ID_LENGTH } from './http-schemas';
import { idempotentRequestOf } from './idempotency';
import { COMMAND_SCHEMA, OPERATING_MODES, type CommandRecord } from './records';
import { newId, requireOwned } from './routes-platform';
import type { PendingRecord } from './transactional-writer';

/**
 * Device commands. The API only validates and records them (PENDING on commands.v1, keyed by
 * connection id); the poller owning the connection runs them (services/poller/command-executor.ts). A device
 * the API does not know in the caller's workspace gets its command FAILED at once, with its
 * command.failed event: a command never just disappears.
 */
export function registerCommandRoutes(app: FastifyInstance, context: RouteContext): void {
  const { view, writer, topics, metrics } = context;

  app.post<{ Params: { deviceId: string }; Body: CommandBody }>(
    '/devices/:deviceId/commands',
    {
      schema: {
        summary: 'Send a command to a device (exactly one of the body members)',
        tags: ['commands'],
        params: deviceParams,
        headers: idempotencyHeaders,
        body: commandBody,
      },
    },
    async (request, reply) => {
      const { workspaceId, body } = request;
      const { deviceId } = request.params;
      const result = await context.idempotency.persisted(
        workspaceId,
        'command',
        idempotentRequestOf(request),
        (id) => {
          const command = view.commands.get(id);
          return command && command.workspaceId === workspaceId
            ? renderCommand(command)
            : undefined;
        },
        async (stamp) => {
          const issuedAt = context.now();
          const device = view.devices.get(deviceId);
          const known = device !== undefined && device.workspaceId === workspaceId;
          const command: CommandRecord = {
            commandId: newId('cmd'),
            workspaceId,
            deviceId,
            connectionId: known ? device.connectionId : null,
            oem: known ? device.oem : null,
            ...actionOf(body),
            status: known ? 'PENDING' : 'FAILED',
            issuedAt,
            executedAt: known ? null : issuedAt,
            errorMessage: known ? null : 'device not found',
            ...stamp,
          };
          const records: PendingRecord[] = [
            {
              topic: topics['commands.v1'],
              schema: COMMAND_SCHEMA,
              key: command.connectionId ?? deviceId,
              value: command,
            },
          ];
          if (!known) {
            const event = commandResultEvent(command);
            records.push({
              topic: topics['events.v1'],
              schema: 'event',
              key: deviceId,
              value: event,
            });
          }
          await writer.write(records);
          view.putCommand(command);
          if (!known) metrics.eventsEmitted.inc({ type: 'command.failed' });
          return renderCommand(command);
        },
      );
      return reply
        .code(202)
        .header('idempotent-replayed', String(result.replayed))
        .send(result.value);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/commands/:id',
    { schema: { summary: 'A command and its status', tags: ['commands'], params: idParams } },
    async (request) => {
      const command = view.commands.get(request.params.id);
      return renderCommand(requireOwned(command, request.workspaceId));
    },
  );
}

interface CommandBody {
  backupReserve?: number;
  operatingMode?: (typeof OPERATING_MODES)[number];
  stormMode?: boolean;
}

const deviceParams = {
  type: 'object',
  required: ['deviceId'],
  additionalProperties: false,
  properties: {
    deviceId: {
      type: 'string',
      minLength: 3,
      maxLength: MAX_ID_LENGTH,
      pattern: '^[a-z]+:[A-Za-z0-9_.-]+$',
    },
  },
} as const;

const commandBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    backupReserve: {
      type: 'integer',
      minimum: 0,
      maximum: 100,
      description: 'Backup reserve, percent',
    },
    operatingMode: { type: 'string', enum: [...OPERATING_MODES] },
    stormMode: {
      type: 'boolean',
      description: 'Storm mode (Tesla) / Storm Guard (Enphase) on or off',
    },
  },
} as const;

function actionOf(
  body: CommandBody,
): Pick<CommandRecord, 'action' | 'backupReservePercent' | 'operatingMode' | 'stormModeEnabled'> {
  const none = { backupReservePercent: null, operatingMode: null, stormModeEnabled: null };
  if (body.backupReserve !== undefined) {
    return { ...none, action: 'SET_BACKUP_RESERVE', backupReservePercent: body.backupReserve };
  }
  if (body.operatingMode !== undefined) {
    return { ...none, action: 'SET_OPERATING_MODE', operatingMode: body.operatingMode };
  }
  return { ...none, action: 'SET_STORM_MODE', stormModeEnabled: body.stormMode ?? false };
}

function renderCommand(command: CommandRecord) {
  return {
    id: command.commandId,
    deviceId: command.deviceId,
    action: command.action.toLowerCase(),
    backupReserve: command.backupReservePercent,
    operatingMode: command.operatingMode,
    stormMode: command.stormModeEnabled,
    status: command.status.toLowerCase(),
    issuedAt: iso(command.issuedAt),
    executedAt: iso(command.executedAt),
    error: command.errorMessage === null ? null : { message: command.errorMessage },
  };
}
