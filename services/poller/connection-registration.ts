import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { GridpulseError } from '../common/errors';
import { isOem } from './config';
import { emptyCustomer, emptySite, type Connection, type Credentials } from './connection';
import { PollerErrorCode } from './errors';

/** Flags of `connections add`, as commander hands them over. */
export interface ConnectionFlags {
  oem: string;
  id?: string;
  workspace: string;
  organization: string;
  customer: string;
  site: string;
  siteName?: string;
  clientId?: string;
  clientSecret?: string;
  apiKey?: string;
  accessToken?: string;
  refreshToken?: string;
  disabled?: boolean;
}

/** Builds a connection from CLI flags; refuses an OEM without an adapter or without a token. */
export function connectionFromFlags(flags: ConnectionFlags, now = Date.now()): Connection {
  if (!isOem(flags.oem)) {
    throw new GridpulseError(PollerErrorCode.connectionInvalid, `unknown oem ${flags.oem}`, {
      context: { oem: flags.oem },
    });
  }
  if (!flags.refreshToken && !flags.accessToken) {
    throw new GridpulseError(PollerErrorCode.credentialsMissing, 'need a refresh or access token', {
      context: { oem: flags.oem },
    });
  }
  const credentials: Credentials = {
    clientId: flags.clientId,
    clientSecret: flags.clientSecret,
    apiKey: flags.apiKey,
    accessToken: flags.accessToken,
    refreshToken: flags.refreshToken,
  };
  return {
    connectionId: flags.id ?? randomUUID(),
    oem: flags.oem,
    enabled: !flags.disabled,
    credentials,
    workspaceId: flags.workspace,
    organizationId: flags.organization,
    customer: emptyCustomer(flags.customer),
    site: { ...emptySite(flags.site), name: flags.siteName ?? null },
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * Every account of a running oem-simulator (GET /_sim/accounts, paged), as connections. The
 * connection id is derived from the account, so registering twice overwrites, never doubles.
 */
export async function fetchSimulatorConnections(
  simulatorUrl: string,
  now = Date.now(),
): Promise<Connection[]> {
  const base = simulatorUrl.replace(/\/$/, '');
  const limit = 1000;
  const connections: Connection[] = [];
  for (let offset = 0; ; offset += limit) {
    const res = await request(`${base}/_sim/accounts?offset=${offset}&limit=${limit}`);
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new GridpulseError(PollerErrorCode.oemHttpError, 'simulator accounts unavailable', {
        context: { status: res.statusCode },
      });
    }
    const page = (await res.body.json()) as SimAccountShape[];
    connections.push(...page.map((account) => connectionFromSimAccount(account, now)));
    if (page.length < limit) return connections;
  }
}

export function connectionFromSimAccount(account: SimAccountShape, now = Date.now()): Connection {
  const { site, customer } = account;
  return {
    connectionId: `sim-${account.accountId}`,
    oem: account.oem,
    enabled: true,
    credentials: {
      clientId: account.clientId,
      clientSecret: account.clientSecret,
      apiKey: account.apiKey,
      refreshToken: account.refreshToken,
    },
    workspaceId: account.workspaceId,
    organizationId: account.organizationId,
    customer: {
      id: customer.id,
      referenceId: null,
      email: customer.email ?? null,
      firstName: customer.firstName ?? null,
      lastName: customer.lastName ?? null,
      phone: customer.phone ?? null,
    },
    site: {
      id: site.id,
      name: site.name ?? null,
      address: site.address
        ? {
            streetAddress1: site.address.streetAddress1 ?? null,
            streetAddress2: null,
            city: site.address.city ?? null,
            state: site.address.state ?? null,
            postalCode: site.address.postalCode ?? null,
            country: site.address.country ?? null,
          }
        : null,
      longitude: site.longitude ?? null,
      latitude: site.latitude ?? null,
    },
    createdAt: now,
    updatedAt: now,
  };
}

/** The fields of the simulator's SimAccount this module reads (its README is the contract). */
export interface SimAccountShape {
  oem: string;
  accountId: string;
  clientId: string;
  clientSecret: string;
  apiKey?: string;
  refreshToken: string;
  customer: { id: string; email?: string; firstName?: string; lastName?: string; phone?: string };
  site: {
    id: string;
    name?: string;
    address?: Partial<
      Record<'streetAddress1' | 'city' | 'state' | 'postalCode' | 'country', string>
    >;
    latitude?: number;
    longitude?: number;
  };
  workspaceId: string;
  organizationId: string;
}
