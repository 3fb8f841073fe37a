import type { Logger } from '../common/logger';
import { GridpulseError } from '../common/errors';
import type { Connection, Credentials } from './connection';
import type { Oem, PollerConfig } from './config';
import { PollerErrorCode, isAbandoned } from './errors';
import type { PollerMetrics } from './metrics';
import type { OemHttpClient, OemRequest } from './oem-http';

/**
 * Access tokens per connection. A refresh is serialized per account (concurrent callers share
 * one refresh), and because refresh tokens are single-use, the rotated credentials are written
 * to connections.v1 (acks=all, awaited) before the new access token is handed out: a crash
 * after that write loses nothing; a crash before it (between the OEM's answer and the write)
 * is the one window left, kept as short as one produce.
 *
 * `signal` (the poller stopping) only cancels a refresh whose request has not been sent yet:
 * once the OEM may have rotated the refresh token, nothing cancels the answer's parse and
 * write. Callers sharing a refresh share the signal of the one that started it.
 * Limitation: a command joining a refresh that a stopping poll cycle started, before its
 * request went out, fails with GP_POLLER_STOPPING instead of refreshing on its own.
 */
export interface TokenManager {
  /** A valid access token, refreshing first when it is missing or about to expire. */
  accessToken(connectionId: string, signal?: AbortSignal): Promise<string>;
  /** The OEM refused `token` (401): refresh now unless another caller already did. */
  refreshAfterRejection(connectionId: string, token: string, signal?: AbortSignal): Promise<string>;
}

export interface ConnectionAccess {
  get(connectionId: string): Connection | undefined;
  /** Persists (acks=all) and then adopts the connection; rejects if the write fails. */
  persist(connection: Connection): Promise<void>;
}

export function createTokenManager(options: {
  config: Pick<PollerConfig, 'oems' | 'tokenRefreshSkewSeconds'>;
  clients: Record<Oem, OemHttpClient>;
  connections: ConnectionAccess;
  metrics: PollerMetrics;
  logger: Logger;
  now?: () => number;
}): TokenManager {
  const { config, clients, connections, metrics } = options;
  const logger = options.logger.child({ component: 'token-manager' });
  const now = options.now ?? Date.now;
  const inFlight = new Map<string, Promise<string>>();
  /** Rotated credentials the OEM gave us but connections.v1 does not have yet. */
  const unpersisted = new Map<string, Connection>();

  function refreshSerialized(connectionId: string, signal?: AbortSignal): Promise<string> {
    let pending = inFlight.get(connectionId);
    if (!pending) {
      pending = refresh(connectionId, signal).finally(() => inFlight.delete(connectionId));
      inFlight.set(connectionId, pending);
    }
    return pending;
  }

  async function refresh(connectionId: string, signal?: AbortSignal): Promise<string> {
    const stuck = unpersisted.get(connectionId);
    if (stuck) return persistThenUse(stuck);

    const connection = requireConnection(connections, connectionId);
    const oem = connection.oem as Oem;
    const { refreshToken } = connection.credentials;
    if (!refreshToken) {
      throw new GridpulseError(PollerErrorCode.credentialsMissing, 'no refresh token', {
        context: { oem, connectionId },
      });
    }

    const request = buildRefreshRequest(oem, config.oems[oem].authUrl, connection.credentials);
    const response = await clients[oem].send(request, signal).catch((err: unknown) => {
      if (!isAbandoned(err)) metrics.tokenRefreshes.inc({ oem, outcome: 'failed' });
      throw err;
    });
    if (response.status !== 200) {
      metrics.tokenRefreshes.inc({ oem, outcome: 'rejected' });
      throw new GridpulseError(PollerErrorCode.authRejected, 'token refresh rejected', {
        retriable: false,
        context: { oem, connectionId, status: response.status },
      });
    }

    const credentials = parseTokenResponse(oem, connectionId, response.body, connection, now());
    const rotated: Connection = { ...connection, credentials, updatedAt: now() };
    unpersisted.set(connectionId, rotated);
    return persistThenUse(rotated);
  }

  async function persistThenUse(rotated: Connection): Promise<string> {
    const oem = rotated.oem;
    try {
      await connections.persist(rotated);
    } catch (err) {
      metrics.tokenRefreshes.inc({ oem, outcome: 'persist_failed' });
      // Kept in `unpersisted`: the next caller retries the write before anything uses the
      // token, and the OEM's new refresh token stays in memory meanwhile.
      throw new GridpulseError(PollerErrorCode.tokenPersistFailed, 'rotated token not persisted', {
        cause: err,
        retriable: true,
        context: { oem, connectionId: rotated.connectionId },
      });
    }
    unpersisted.delete(rotated.connectionId);
    metrics.tokenRefreshes.inc({ oem, outcome: 'ok' });
    logger.info({ oem, connectionId: rotated.connectionId }, 'token refreshed and persisted');
    return rotated.credentials.accessToken!;
  }

  return {
    async accessToken(connectionId, signal) {
      if (unpersisted.has(connectionId) || inFlight.has(connectionId)) {
        return refreshSerialized(connectionId, signal);
      }
      const { credentials } = requireConnection(connections, connectionId);
      const expiresAt = credentials.accessTokenExpiresAt ?? 0;
      const isFresh = expiresAt - config.tokenRefreshSkewSeconds * 1000 > now();
      if (credentials.accessToken && isFresh) return credentials.accessToken;
      return refreshSerialized(connectionId, signal);
    },
    async refreshAfterRejection(connectionId, token, signal) {
      const pending = inFlight.get(connectionId);
      if (pending) return pending;
      const current = connections.get(connectionId)?.credentials.accessToken;
      if (current && current !== token) return current;
      return refreshSerialized(connectionId, signal);
    },
  };
}

function requireConnection(connections: ConnectionAccess, connectionId: string): Connection {
  const connection = connections.get(connectionId);
  if (!connection) {
    throw new GridpulseError(PollerErrorCode.credentialsMissing, 'connection no longer owned', {
      context: { connectionId },
    });
  }
  return connection;
}

/**
 * Tesla: POST {auth}/oauth2/v3/token, form body with client_id and the refresh token.
 * Enphase: POST {auth}/oauth/token?grant_type=refresh_token&refresh_token=…, HTTP Basic
 * client_id:client_secret (https://developer-v4.enphase.com/docs/quickstart.html).
 */
function buildRefreshRequest(oem: Oem, authUrl: string, credentials: Credentials): OemRequest {
  const base = authUrl.replace(/\/$/, '');
  const refreshToken = credentials.refreshToken ?? '';
  if (oem === 'tesla') {
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: credentials.clientId ?? '',
      refresh_token: refreshToken,
    });
    return {
      method: 'POST',
      url: `${base}/oauth2/v3/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    };
  }
  const query = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
  const basic = Buffer.from(`${credentials.clientId ?? ''}:${credentials.clientSecret ?? ''}`);
  return {
    method: 'POST',
    url: `${base}/oauth/token?${query.toString()}`,
    headers: { authorization: `Basic ${basic.toString('base64')}` },
  };
}

function parseTokenResponse(
  oem: string,
  connectionId: string,
  body: string,
  connection: Connection,
  nowMs: number,
): Credentials {
  let parsed: { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch (err) {
    throw new GridpulseError(PollerErrorCode.authRejected, 'token response is not JSON', {
      cause: err,
      context: { oem, connectionId },
    });
  }
  const { access_token: access, refresh_token: refreshToken, expires_in: expiresIn } = parsed;
  if (typeof access !== 'string' || typeof expiresIn !== 'number') {
    throw new GridpulseError(PollerErrorCode.authRejected, 'token response incomplete', {
      context: { oem, connectionId },
    });
  }
  return {
    ...connection.credentials,
    accessToken: access,
    accessTokenExpiresAt: nowMs + expiresIn * 1000,
    // A response without a new refresh token means the old one stays valid.
    refreshToken:
      typeof refreshToken === 'string' ? refreshToken : connection.credentials.refreshToken,
  };
}
