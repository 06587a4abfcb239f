/**
 * Argument checks shared by every public function. They throw TypeError for
 * a wrong type and RangeError for a value out of range, naming the argument,
 * before anything reaches the addon.
 */
import * as net from 'node:net';

// Node's own argument errors are plain TypeError/RangeError objects (their
// constructor is TypeError itself) with an own \`code\`, and their stack and
// toString() read "TypeError [ERR_INVALID_ARG_TYPE]: ...". These classes
// build exactly that: \`new ArgTypeError(msg)\` returns a TypeError.
function coded<E extends Error>(err: E, code: string, above: abstract new (message: string) => Error): E {
  Error.captureStackTrace(err, above as unknown as (...args: never[]) => unknown);
  Object.defineProperty(err, 'code', { value: code, writable: true, enumerable: true, configurable: true });
  const head = `${err.name}: ${err.message}`;
  if (err.stack?.startsWith(head)) err.stack = `${err.name} [${code}]: ${err.message}` + err.stack.slice(head.length);
  Object.defineProperty(err, 'toString', { value: () => `${err.name} [${code}]: ${err.message}`, enumerable: false });
  return err;
}

/** Makes a TypeError with Node's `code` ERR_INVALID_ARG_TYPE: an argument of the wrong type. */
export class ArgTypeError extends TypeError {
  declare readonly code: 'ERR_INVALID_ARG_TYPE';
  constructor(message: string) {
    super(message);
    return coded(new TypeError(message), 'ERR_INVALID_ARG_TYPE', ArgTypeError) as ArgTypeError;
  }
}

/** Makes a RangeError with Node's `code` ERR_OUT_OF_RANGE: a number outside what the argument allows. */
export class ArgRangeError extends RangeError {
  declare readonly code: 'ERR_OUT_OF_RANGE';
  constructor(message: string) {
    super(message);
    return coded(new RangeError(message), 'ERR_OUT_OF_RANGE', ArgRangeError) as ArgRangeError;
  }
}

/** Makes a RangeError with Node's `code` ERR_INVALID_ARG_VALUE: a value of the right type that the argument does not take. */
export class ArgValueError extends RangeError {
  declare readonly code: 'ERR_INVALID_ARG_VALUE';
  constructor(message: string) {
    super(message);
    return coded(new RangeError(message), 'ERR_INVALID_ARG_VALUE', ArgValueError) as ArgValueError;
  }
}

/** An integer in [min, max]: TypeError for a non-number, RangeError for NaN, fractions, infinities and values outside. */
export function checkInt(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') {
    throw new ArgTypeError(`The "${name}" argument must be of type number, received ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ArgRangeError(`The "${name}" argument must be an integer from ${min} to ${max}, received ${value}`);
  }
  return value;
}

/** The largest fd number the kernel's int can hold. */
export const MAX_FD = 2 ** 31 - 1;

/** A file descriptor number, 0 to 2**31-1 (whether it is open is the kernel's to say: EBADF). */
export function checkFd(fd: unknown, name = 'fd'): number {
  return checkInt(fd, name, 0, MAX_FD);
}

/** A TCP/UDP port, 0 to 65535 (0: the kernel picks one). */
export function checkPort(port: unknown, name = 'port'): number {
  return checkInt(port, name, 0, 65535);
}

/** A boolean, nothing truthy or falsy in its place. */
export function checkBool(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') {
    throw new ArgTypeError(`The "${name}" argument must be of type boolean, received ${describe(value)}`);
  }
  return value;
}

/**
 * A constant by name (a key of `table`) or by number (one of its values):
 * TypeError for anything else, RangeError for a name or number not in it.
 */
export function checkChoice(value: unknown, table: Record<string, number>, name: string): number {
  if (typeof value === 'string') {
    const n = table[value];
    if (n === undefined)
      throw new ArgValueError(
        `The "${name}" argument must be one of ${Object.keys(table).join(', ')}, received '${value}'`,
      );
    return n;
  }
  if (typeof value === 'number') {
    if (!Object.values(table).includes(value))
      throw new ArgValueError(`The "${name}" argument is not a supported value: ${value}`);
    return value;
  }
  throw new ArgTypeError(`The "${name}" argument must be a string or number, received ${describe(value)}`);
}

/** A plain object (not null, not an array, not a revoked Proxy). */
export function checkObject(value: unknown, name: string): Record<string, unknown> {
  let isArray: boolean;
  try {
    isArray = Array.isArray(value);
  } catch {
    // Array.isArray throws only for a revoked Proxy.
    throw new ArgTypeError(`The "${name}" argument must be an object, received a revoked Proxy`);
  }
  if (typeof value !== 'object' || value === null || isArray) {
    throw new ArgTypeError(`The "${name}" argument must be an object, received ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** An options object, or undefined for none. */
export function checkOptions(value: unknown, name = 'options'): Record<string, unknown> {
  return value === undefined ? {} : checkObject(value, name);
}

/** Bytes to send: a Uint8Array (Buffer included) that is not detached, or a string (UTF-8). */
export function checkBytes(data: unknown, name = 'data'): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (!(data instanceof Uint8Array)) {
    throw new ArgTypeError(`The "${name}" argument must be a Buffer, Uint8Array or string, received ${describe(data)}`);
  }
  if (data.byteLength === 0 && isDetached(data.buffer)) {
    throw new ArgTypeError(`The "${name}" argument is backed by a detached ArrayBuffer`);
  }
  return data;
}

function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/** An IPv4 or IPv6 address in text form, as inet_pton(3) takes it. */
export function checkIp(address: unknown, family: 4 | 6, name = 'address.address'): string {
  if (typeof address !== 'string') {
    throw new ArgTypeError(`The "${name}" argument must be of type string, received ${describe(address)}`);
  }
  if (!(family === 4 ? net.isIPv4(address) : net.isIPv6(address))) {
    throw new ArgTypeError(`The "${name}" argument must be an IPv${family} address, received '${address}'`);
  }
  return address;
}

/** Says what a value is, for error messages, without ever throwing. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : `type number (${value})`;
  if (typeof value === 'string') return `type string ('${value.length > 20 ? value.slice(0, 20) + '...' : value}')`;
  if (typeof value === 'object') {
    try {
      return `an instance of ${value.constructor?.name ?? 'Object'}`;
    } catch {
      // a Proxy whose traps throw, or a getter that does
      return 'an object';
    }
  }
  return `type ${typeof value}`;
}

/**
 * A flags word: an integer whose every set bit is one of `allowed` (the
 * flags the call supports, by name). ArgValueError names the first bit
 * that is not.
 */
export function checkFlags(value: unknown, name: string, allowed: Record<string, number>): number {
  const flags = checkInt(value, name, 0, 2 ** 31 - 1);
  let rest = flags;
  for (const bit of Object.values(allowed)) rest &= ~bit;
  if (rest !== 0) {
    const lowest = rest & -rest;
    throw new ArgValueError(
      `The "${name}" argument has a flag this call does not support: 0x${lowest.toString(16)} (supported: ${Object.keys(allowed).join(', ')})`,
    );
  }
  return flags;
}

/** An EINTR policy, when given: 'throw' or 'retry'. */
export function checkInterruptPolicy(value: unknown, name: string): void {
  if (value !== undefined && value !== 'throw' && value !== 'retry') {
    throw new ArgValueError(`The "${name}" argument must be 'throw' or 'retry', received ${describe(value)}`);
  }
}
