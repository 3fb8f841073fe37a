import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { DispatcherErrorCode, dispatcherError } from './errors';

/**
 * Addresses a webhook must never reach unless the deployment allows private URLs: loopback,
 * RFC 1918, CGNAT, link-local (cloud metadata lives at 169.254.169.254), unique-local,
 * multicast, documentation and other special-purpose ranges (IANA special registries).
 */
const BLOCKED = createBlockList();

export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 4) return BLOCKED.check(address, 'ipv4');

  const embedded = embeddedIpv4(address);
  if (embedded !== null) return BLOCKED.check(embedded, 'ipv4');
  return BLOCKED.check(address, 'ipv6');
}

/**
 * Checks a destination URL before it is saved: scheme, no credentials, and (with the guard on)
 * https only and a host that does not resolve to a blocked address. Throws a coded error that
 * says which rule failed.
 */
export async function assertDestinationUrl(
  raw: string,
  options: { allowPrivateUrls: boolean; resolve?: typeof resolveAll },
): Promise<URL> {
  const url = parseDestinationUrl(raw, options);
  if (options.allowPrivateUrls) return url;

  const hostname = stripBrackets(url.hostname);
  const addresses = isIP(hostname) ? [hostname] : await (options.resolve ?? resolveAll)(hostname);
  const blocked = addresses.find(isBlockedAddress);
  if (blocked !== undefined) {
    throw dispatcherError(
      DispatcherErrorCode.urlRefused,
      `destination host ${hostname} resolves to ${blocked}, a private or internal address; ` +
        'set DISPATCHER_ALLOW_PRIVATE_URLS=true only for local development',
      { context: { hostname, address: blocked } },
    );
  }
  return url;
}

/** The synchronous part of the URL checks (no DNS). */
export function parseDestinationUrl(raw: string, options: { allowPrivateUrls: boolean }): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw dispatcherError(DispatcherErrorCode.urlInvalid, 'destination URL is not a URL', {
      cause: err,
    });
  }
  const allowedSchemes = options.allowPrivateUrls ? ['https:', 'http:'] : ['https:'];
  if (!allowedSchemes.includes(url.protocol)) {
    throw dispatcherError(
      DispatcherErrorCode.urlRefused,
      `destination URL must use ${allowedSchemes.join(' or ')} (got ${url.protocol})`,
      { context: { protocol: url.protocol } },
    );
  }
  if (url.username || url.password) {
    throw dispatcherError(
      DispatcherErrorCode.urlInvalid,
      'destination URL must not carry credentials; use a custom header',
    );
  }
  if (!options.allowPrivateUrls && isIP(stripBrackets(url.hostname))) {
    const address = stripBrackets(url.hostname);
    if (isBlockedAddress(address)) {
      throw dispatcherError(
        DispatcherErrorCode.urlRefused,
        `destination address ${address} is private or internal`,
        { context: { address } },
      );
    }
  }
  return url;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net/tls.connect that refuses blocked addresses. The socket connects to the
 * very address checked here, so a DNS answer that changes between check and connect (DNS
 * rebinding) cannot slip through.
 */
export function guardedLookup(
  hostname: string,
  options: { all?: boolean; family?: number | string },
  callback: LookupCallback,
): void {
  dnsLookup(hostname, { all: true, family: normalizeFamily(options.family) }, (err, addresses) => {
    if (err) return callback(err, []);
    const allowed = addresses.filter((entry) => !isBlockedAddress(entry.address));
    if (allowed.length === 0) {
      const error = dispatcherError(
        DispatcherErrorCode.addressRefused,
        `${hostname} resolves only to private or internal addresses`,
        { context: { hostname, addresses: addresses.map((entry) => entry.address) } },
      );
      return callback(error as unknown as NodeJS.ErrnoException, []);
    }
    if (options.all) return callback(null, allowed);
    const first = allowed[0]!;
    return callback(null, first.address, first.family);
  });
}

export function resolveAll(hostname: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (err, addresses) => {
      if (err) {
        reject(
          dispatcherError(
            DispatcherErrorCode.urlInvalid,
            `destination host ${hostname} not found`,
            {
              cause: err,
              retriable: true,
              context: { hostname },
            },
          ),
        );
        return;
      }
      resolve(addresses.map((entry) => entry.address));
    });
  });
}

export function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function normalizeFamily(family: number | string | undefined): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

/** The IPv4 inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) IPv6 address. */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1]!;
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return null;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

function createBlockList(): BlockList {
  const list = new BlockList();
  const v4: Array<[string, number]> = [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.88.99.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ];
  for (const [network, prefix] of v4) list.addSubnet(network, prefix, 'ipv4');

  const v6: Array<[string, number]> = [
    ['::', 128],
    ['::1', 128],
    ['::', 96], // IPv4-compatible (deprecated)
    ['100::', 64], // discard-only
    ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, ...)
    ['2001:db8::', 32], // documentation
    ['2002::', 16], // 6to4: tunnels to arbitrary IPv4
    ['fc00::', 7], // unique local
    ['fe80::', 10], // link-local
    ['fec0::', 10], // site-local (deprecated)
    ['ff00::', 8], // multicast
  ];
  for (const [network, prefix] of v6) list.addSubnet(network, prefix, 'ipv6');
  return list;
}
