import { z } from 'zod';
import type { EventRecord } from '../common/events';
import { DispatcherErrorCode, dispatcherError } from './errors';
import { decodeSigningSecret } from './webhook-signer';

/** A destination as stored on destinations.v1 (schemas/destination.avsc). */
export interface Destination {
  id: string;
  url: string;
  description: string | null;
  workspaceId: string | null;
  secrets: SigningSecret[];
  eventTypes: string[];
  deviceTypes: string[];
  headers: Record<string, string>;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: number | null;
  rateLimitPerSecond: number | null;
  timeoutMs: number;
  createdAt: number;
  updatedAt: number;
  enabledAt: number;
  lastSuccessAt: number | null;
}

export interface SigningSecret {
  secret: string;
  createdAt: number;
  expiresAt: number | null;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The fields a caller may set on create or update. */
export const destinationInputSchema = z.object({
  url: z.string().min(1),
  description: z.string().max(500).nullable().optional(),
  workspaceId: z.string().min(1).nullable().optional(),
  eventTypes: z.array(z.string().regex(/^[a-z]+\.[a-z_]+$/, 'like device.updated')).optional(),
  deviceTypes: z.array(z.string().min(1)).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  rateLimitPerSecond: z.number().positive().max(100_000).nullable().optional(),
  timeoutMs: z.number().int().min(100).max(60_000).optional(),
});

export type DestinationInput = z.infer<typeof destinationInputSchema>;

/**
 * Header names a destination may not set: the Standard Webhooks ones (a custom header must
 * never replace the signature) and those HTTP framing owns.
 */
const RESERVED_HEADER =
  /^(webhook-.*|content-type|content-length|transfer-encoding|host|connection|keep-alive|upgrade|te|trailer|expect)$/i;

export function parseDestinationInput(input: unknown, partial: boolean): Partial<DestinationInput> {
  const schema = partial ? destinationInputSchema.partial() : destinationInputSchema;
  const result = schema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw dispatcherError(
      DispatcherErrorCode.destinationInvalid,
      `invalid destination: ${problems.join('; ')}`,
      { context: { fields: result.error.issues.map((issue) => issue.path.join('.')) } },
    );
  }
  const reserved = Object.keys(result.data.headers ?? {}).filter((name) =>
    RESERVED_HEADER.test(name),
  );
  if (reserved.length > 0) {
    throw dispatcherError(
      DispatcherErrorCode.destinationInvalid,
      `invalid destination: headers ${reserved.join(', ')} are reserved`,
      { context: { fields: reserved.map((name) => `headers.${name}`) } },
    );
  }
  const badHeader = Object.entries(result.data.headers ?? {}).find(
    ([name, value]) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value),
  );
  if (badHeader) {
    throw dispatcherError(
      DispatcherErrorCode.destinationInvalid,
      `invalid destination: header ${badHeader[0]} is not a valid HTTP header`,
      { context: { fields: [`headers.${badHeader[0]}`] } },
    );
  }
  return result.data;
}

/** Whether `event` goes to `destination` (enabled state aside). */
export function matchesDestination(destination: Destination, event: EventRecord): boolean {
  if (destination.workspaceId !== null && destination.workspaceId !== event.workspaceId) {
    return false;
  }
  if (destination.eventTypes.length > 0 && !destination.eventTypes.includes(event.type)) {
    return false;
  }
  // Events without a device (customer, site, enrollment) are not filtered by device type.
  if (
    destination.deviceTypes.length > 0 &&
    event.deviceType !== null &&
    !destination.deviceTypes.includes(event.deviceType)
  ) {
    return false;
  }
  return true;
}

/** The decoded keys of the secrets that sign at `nowMs`: newest first, expired ones left out. */
export function activeSigningKeys(destination: Destination, nowMs: number): Buffer[] {
  return destination.secrets
    .filter((entry) => entry.expiresAt === null || entry.expiresAt > nowMs)
    .map((entry) => decodeSigningSecret(entry.secret));
}

/** Custom headers that can go out as they are: reserved names dropped again, defensively. */
export function customHeaders(destination: Destination): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(destination.headers)) {
    if (!RESERVED_HEADER.test(name)) headers[name.toLowerCase()] = value;
  }
  return headers;
}

/**
 * A copy safe to print: secrets masked to their first characters, custom header values
 * replaced (they are usually credentials of the receiver) and their names kept, as the admin
 * API shows them.
 */
export function redactDestination(destination: Destination): Destination {
  return {
    ...destination,
    url: redactUrlQuery(destination.url),
    secrets: destination.secrets.map((entry) => ({
      ...entry,
      secret: `${entry.secret.slice(0, 10)}…`,
    })),
    headers: Object.fromEntries(
      Object.keys(destination.headers).map((name) => [name, REDACTED_HEADER_VALUE]),
    ),
  };
}

export const REDACTED_HEADER_VALUE = '[redacted]';

/** Query values are often receiver tokens (`?token=…`): their names stay, the values go. */
function redactUrlQuery(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const names = [...new URLSearchParams(url.slice(at + 1)).keys()];
  return `${url.slice(0, at)}?${names.map((name) => `${name}=${REDACTED_HEADER_VALUE}`).join('&')}`;
}
