/**
 * Socket addresses: the address families, the shapes an address takes in
 * JavaScript (`{ family: 'AF_INET', address, port }` and its IPv6 and UNIX
 * kin), their checks, and their conversion to and from the addon's form.
 */
import { C } from '../addon.ts';
import type { NativeAddress, NativeAddressOut } from '../native.ts';
import {
  ArgRangeError,
  ArgTypeError,
  ArgValueError,
  checkInt,
  checkIp,
  checkObject,
  checkPort,
  describe,
} from '../validate.ts';

/** AF_INET, address family IPv4 (`<sys/socket.h>`, ip(7)). */
export const AF_INET = C.AF_INET;
/** AF_INET6, address family IPv6 (ipv6(7)). */
export const AF_INET6 = C.AF_INET6;
/** AF_UNIX, local sockets named by a filesystem path or an abstract name (unix(7)). */
export const AF_UNIX = C.AF_UNIX;

/** An address family by name, as {@link socket} and {@link socketpair} take it. */
export type Domain = 'AF_INET' | 'AF_INET6' | 'AF_UNIX';

/** An IPv4 address and port: `{ family: 'AF_INET', address: '127.0.0.1', port: 9093 }`. */
export interface Inet4Address {
  family: 'AF_INET';
  address: string;
  port: number;
}
/** An IPv6 address and port, with the optional flow label and scope (interface) id. */
export interface Inet6Address {
  family: 'AF_INET6';
  address: string;
  port: number;
  flowinfo?: number;
  scopeId?: number;
}
/** A UNIX-domain socket path; a path starting with `'\0'` is in the abstract namespace. */
export interface UnixAddress {
  family: 'AF_UNIX';
  path: string;
}
/** Any socket address this package takes or returns. */
export type SocketAddress = Inet4Address | Inet6Address | UnixAddress;

/** Checks an address a caller passed and gives the addon's form. Not exported from the package. */
export function toNative(address: unknown): NativeAddress {
  const a = checkObject(address, 'address');
  if (a.family === 'AF_INET' || a.family === AF_INET) {
    return { family: AF_INET, address: checkIp(a.address, 4), port: checkPort(a.port, 'address.port') };
  }
  if (a.family === 'AF_INET6' || a.family === AF_INET6) {
    return {
      family: AF_INET6,
      address: checkIp(a.address, 6),
      port: checkPort(a.port, 'address.port'),
      flowinfo: a.flowinfo === undefined ? 0 : checkInt(a.flowinfo, 'address.flowinfo', 0, 0xfffff),
      scopeId: a.scopeId === undefined ? 0 : checkInt(a.scopeId, 'address.scopeId', 0, 0xffffffff),
    };
  }
  if (a.family === 'AF_UNIX' || a.family === AF_UNIX) {
    if (typeof a.path !== 'string')
      throw new ArgTypeError(`The "address.path" argument must be of type string, received ${describe(a.path)}`);
    const bytes = Buffer.byteLength(a.path);
    const room = a.path.startsWith('\0') ? 108 : 107;
    if (bytes === 0 || bytes > room)
      throw new ArgRangeError(`The "address.path" argument must be 1 to ${room} bytes long, received ${bytes}`);
    return { family: AF_UNIX, path: a.path };
  }
  throw new ArgValueError(
    `The "address.family" argument must be 'AF_INET', 'AF_INET6' or 'AF_UNIX', received ${describe(a.family)}`,
  );
}

/** An address the addon returned, as the package returns it. Not exported from the package. */
export function fromNative(a: NativeAddressOut): SocketAddress {
  if (a.family === 'AF_UNSPEC') return { family: 'AF_UNIX', path: '' };
  return a;
}

/** An address as the trace prints it: `127.0.0.1:9093`, `[::1]:9093` or a quoted path. Not exported from the package. */
export function formatAddress(
  a: NativeAddressOut | { family: string; address?: string; port?: number; path?: string },
): string {
  if (a.family === 'AF_UNIX') return JSON.stringify((a as { path: string }).path);
  if (a.family === 'AF_INET6') return `[${(a as { address: string }).address}]:${(a as { port: number }).port}`;
  if (a.family === 'AF_INET') return `${(a as { address: string }).address}:${(a as { port: number }).port}`;
  return a.family;
}
