/**
 * setsockopt(2) and getsockopt(2) with options by name and values of their
 * own type (a boolean, seconds, bytes, a linger pair).
 */
import { C, native } from '../addon.ts';
import { traced } from '../trace.ts';
import {
  ArgRangeError,
  ArgTypeError,
  ArgValueError,
  checkBool,
  checkFd,
  checkInt,
  checkObject,
  describe,
} from '../validate.ts';

/** SO_LINGER's value: on close, wait up to `linger` seconds for unsent data. */
export interface Linger {
  onoff: boolean;
  linger: number;
}

/** The value type of each socket option. */
export interface SocketOptionValues {
  SO_REUSEADDR: boolean;
  SO_REUSEPORT: boolean;
  SO_KEEPALIVE: boolean;
  SO_BROADCAST: boolean;
  TCP_NODELAY: boolean;
  IPV6_V6ONLY: boolean;
  /** Seconds (fractions allowed; Linux rounds up to its clock tick, 1 to 10 ms); 0 waits forever. */
  SO_RCVTIMEO: number;
  SO_SNDTIMEO: number;
  /** Bytes. Linux doubles what you set and reports the doubled value. */
  SO_RCVBUF: number;
  SO_SNDBUF: number;
  SO_LINGER: Linger;
  /** Read-only: the pending socket error (cleared by reading it). */
  SO_ERROR: number;
  /** Read-only: SOCK_STREAM or SOCK_DGRAM. */
  SO_TYPE: number;
}
/** A socket option by name, as {@link setsockopt} and {@link getsockopt} take it. */
export type SocketOption = keyof SocketOptionValues;

const KIND_INT = C.SOCKOPT_INT;
const KIND_TIMEVAL = C.SOCKOPT_TIMEVAL;
const KIND_LINGER = C.SOCKOPT_LINGER;
const options: Record<
  SocketOption,
  { level: number; name: number; kind: number; value: 'bool' | 'int' | 'seconds' | 'linger'; readOnly?: boolean }
> = {
  SO_REUSEADDR: { level: C.SOL_SOCKET, name: C.SO_REUSEADDR, kind: KIND_INT, value: 'bool' },
  SO_REUSEPORT: { level: C.SOL_SOCKET, name: C.SO_REUSEPORT, kind: KIND_INT, value: 'bool' },
  SO_KEEPALIVE: { level: C.SOL_SOCKET, name: C.SO_KEEPALIVE, kind: KIND_INT, value: 'bool' },
  SO_BROADCAST: { level: C.SOL_SOCKET, name: C.SO_BROADCAST, kind: KIND_INT, value: 'bool' },
  TCP_NODELAY: { level: C.IPPROTO_TCP, name: C.TCP_NODELAY, kind: KIND_INT, value: 'bool' },
  IPV6_V6ONLY: { level: C.IPPROTO_IPV6, name: C.IPV6_V6ONLY, kind: KIND_INT, value: 'bool' },
  SO_RCVTIMEO: { level: C.SOL_SOCKET, name: C.SO_RCVTIMEO, kind: KIND_TIMEVAL, value: 'seconds' },
  SO_SNDTIMEO: { level: C.SOL_SOCKET, name: C.SO_SNDTIMEO, kind: KIND_TIMEVAL, value: 'seconds' },
  SO_RCVBUF: { level: C.SOL_SOCKET, name: C.SO_RCVBUF, kind: KIND_INT, value: 'int' },
  SO_SNDBUF: { level: C.SOL_SOCKET, name: C.SO_SNDBUF, kind: KIND_INT, value: 'int' },
  SO_LINGER: { level: C.SOL_SOCKET, name: C.SO_LINGER, kind: KIND_LINGER, value: 'linger' },
  SO_ERROR: { level: C.SOL_SOCKET, name: C.SO_ERROR, kind: KIND_INT, value: 'int', readOnly: true },
  SO_TYPE: { level: C.SOL_SOCKET, name: C.SO_TYPE, kind: KIND_INT, value: 'int', readOnly: true },
};

function optionSpec(option: unknown) {
  if (typeof option !== 'string')
    throw new ArgTypeError(`The "option" argument must be of type string, received ${describe(option)}`);
  const spec = options[option as SocketOption];
  if (!spec)
    throw new ArgValueError(
      `The "option" argument must be one of ${Object.keys(options).join(', ')}, received '${option}'`,
    );
  return spec;
}

/**
 * setsockopt(2) with the option by name and a value of its own type:
 * `setsockopt(fd, 'SO_REUSEADDR', true)`, `setsockopt(fd, 'SO_RCVTIMEO', 1.5)`,
 * `setsockopt(fd, 'SO_LINGER', { onoff: true, linger: 0 })`.
 * @throws BadFileDescriptorError (EBADF), PosixError (ENOTSOCK;
 *   ENOPROTOOPT or ENOTSUP/EOPNOTSUPP for an option the socket's family
 *   lacks, e.g. TCP_NODELAY on AF_UNIX; EINVAL, e.g. IPV6_V6ONLY after
 *   bind); TypeError/RangeError naming `option` or `value` (RangeError for
 *   the read-only SO_ERROR and SO_TYPE)
 * Teaches: SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT.
 */
export function setsockopt<K extends SocketOption>(fd: number, option: K, value: SocketOptionValues[K]): void {
  checkFd(fd);
  const spec = optionSpec(option);
  if (spec.readOnly) throw new ArgValueError(`The "option" argument ${option} is read-only`);
  let v: number | boolean;
  let linger = 0;
  if (spec.value === 'bool') v = checkBool(value, 'value') ? 1 : 0;
  else if (spec.value === 'int') v = checkInt(value, 'value', 0, 2 ** 31 - 1);
  else if (spec.value === 'seconds') {
    if (typeof value !== 'number')
      throw new ArgTypeError(`The "value" argument must be of type number (seconds), received ${describe(value)}`);
    if (!Number.isFinite(value) || value < 0 || value > 1e8)
      throw new ArgRangeError(`The "value" argument must be seconds from 0 to 1e8, received ${value}`);
    v = value;
  } else {
    const l = checkObject(value, 'value');
    v = checkBool(l.onoff, 'value.onoff');
    linger = checkInt(l.linger, 'value.linger', 0, 2 ** 31 - 1);
  }
  traced(
    'setsockopt',
    () => `${fd}, ${option}, ${JSON.stringify(value)}`,
    () => native.setsockopt(fd, spec.level, spec.name, spec.kind, v, linger),
  );
}

/**
 * getsockopt(2) with the option by name; the value comes back typed as {@link setsockopt} takes it.
 * @throws BadFileDescriptorError (EBADF), PosixError (ENOTSOCK; ENOPROTOOPT
 *   or ENOTSUP/EOPNOTSUPP for an option the socket's family lacks);
 *   TypeError/RangeError naming `option`
 * Teaches: reading SO_ERROR is how a non-blocking connect reports whether it succeeded.
 */
export function getsockopt<K extends SocketOption>(fd: number, option: K): SocketOptionValues[K] {
  checkFd(fd);
  const spec = optionSpec(option);
  const raw = traced(
    'getsockopt',
    () => `${fd}, ${option}`,
    () => native.getsockopt(fd, spec.level, spec.name, spec.kind),
    (r) => JSON.stringify(r),
  );
  const value = spec.value === 'bool' ? raw !== 0 : raw;
  return value as SocketOptionValues[K];
}

/**
 * setsockopt(2) SO_ATTACH_FILTER with a classic BPF program that drops every
 * packet (socket(7), filter(2) in the kernel's docs). On a listening TCP
 * socket the kernel then completes no new handshake: SYNs are dropped (the
 * client retries, and is refused once the socket is closed), while the
 * connections already queued stay there for accept(2). A server that is
 * going away attaches it, accepts what is queued, then closes, and so
 * resets no connection the kernel had accepted. The filter belongs to the
 * socket, not the fd: every process sharing the socket is affected.
 * @throws BadFileDescriptorError (EBADF); PosixError (ENOTSOCK, ENOMEM)
 * Teaches: a listening socket's queue fills without the program; the only
 *   way to stop it filling, short of closing it, is in the kernel.
 */
export function attachDropFilter(fd: number): void {
  checkFd(fd);
  traced(
    'setsockopt',
    () => `${fd}, SO_ATTACH_FILTER, drop all`,
    () => native.attachDropFilter(fd),
  );
}
