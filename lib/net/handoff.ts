/**
 * Hand-off with node:net, both ways. A raw fd (accepted, connected or
 * listening) becomes a net.Socket or net.Server, after which node:net owns
 * it: this package's close() refuses it with {@link HandedOffError} until
 * node:net closed it. The other way, {@link fdOf} gives the fd of a
 * net.Socket or net.Server for raw calls, still owned by node:net.
 */
import * as net from 'node:net';
import { C, native } from '../addon.ts';
import { releaseFd, refuseClose } from '../sockets/closing.ts';
import { ArgTypeError, ArgValueError, checkFd, checkOptions, describe } from '../validate.ts';

/**
 * close() (or dup2() onto it) of a fd that node:net owns since a hand-off
 * (`code` 'ERR_FD_HANDED_OFF'). Close the net.Socket or net.Server instead.
 * Teaches: a fd has one owner that closes it; two closers means one of them
 * closes whatever file reuses the number next.
 */
export class HandedOffError extends Error {
  readonly code = 'ERR_FD_HANDED_OFF';
  /** The fd the call was made on. */
  readonly fd: number;
  /** The call that was refused. */
  readonly syscall: string;
  /** What owns the fd now: 'net.Socket' or 'net.Server'. */
  readonly owner: string;
  constructor(fd: number, syscall: string, owner: string) {
    super(`${syscall}: fd ${fd} belongs to a ${owner} since its hand-off to node:net; close the ${owner} instead`);
    this.fd = fd;
    this.syscall = syscall;
    this.owner = owner;
  }
}
Object.defineProperty(HandedOffError.prototype, 'name', { value: 'HandedOffError' });

// fd => what owns it in node:net.
const owners = new Map<number, { owner: string; by: net.Socket | net.Server }>();

// The owner of fd, while node:net still holds it. node:net closes the fd
// when the object is destroyed or closed, but says so ('close') only later;
// in between the kernel may give the number to a new fd, which is not
// node:net's.
function ownerOf(fd: number): string | undefined {
  const entry = owners.get(fd);
  if (entry === undefined) return undefined;
  const held = entry.by instanceof net.Server ? entry.by.listening : !entry.by.destroyed;
  if (held) return entry.owner;
  owners.delete(fd);
  return undefined;
}

refuseClose((fd, syscall) => {
  const owner = ownerOf(fd);
  if (owner !== undefined) throw new HandedOffError(fd, syscall, owner);
});

// Before node:net takes the fd: refuses a second hand-off, and lets go of
// the promise API's readiness watch (libuv allows one watcher per fd,
// node:net's); calls still waiting on the fd reject with EBADF.
function release(fd: number): void {
  const owner = ownerOf(fd);
  if (owner !== undefined) throw new HandedOffError(fd, 'hand-off', owner);
  releaseFd(fd, 'hand-off');
}

// node:net owns the fd until `closed` emits 'close'.
function own(fd: number, owner: string, closed: net.Socket | net.Server): void {
  const entry = { owner, by: closed };
  owners.set(fd, entry);
  closed.once('close', () => {
    if (owners.get(fd) === entry) owners.delete(fd);
  });
}

/** Options of {@link toNetSocket}. */
export interface ToNetSocketOptions {
  /** As net.Socket's allowHalfOpen: the socket stays writable after the peer's end. Default false. */
  allowHalfOpen?: boolean;
}

// getsockopt(2) SO_ACCEPTCONN: whether fd is a socket in the listening
// state. EBADF and ENOTSOCK come out as the package's typed errors, unless
// `notSocket` says what a fd that is not a socket counts as (a pipe is
// fine for a net.Socket).
function isListening(fd: number, notSocket?: boolean): boolean {
  try {
    return native.getsockopt(fd, C.SOL_SOCKET, C.SO_ACCEPTCONN, C.SOCKOPT_INT) !== 0;
  } catch (err) {
    if (notSocket !== undefined && (err as { code?: string }).code === 'ENOTSOCK') return notSocket;
    throw err;
  }
}

/**
 * Makes a connected stream socket (accepted or connected with this
 * package) a net.Socket: `new net.Socket({ fd, readable: true, writable:
 * true })`. From then on node:net owns the fd: it reads, writes and closes
 * it, this package's close() refuses it, and libuv sets O_NONBLOCK on it
 * (on the open file, so a forked child holding a copy sees it too).
 * @throws HandedOffError when the fd was handed off already; TypeError/
 *   RangeError naming `fd` or `options`; whatever net.Socket throws for a
 *   fd that is not a socket
 * Teaches: an fd is all a net.Socket is made of; node:net wraps it in a
 * libuv handle that watches it on the event loop.
 */
export function toNetSocket(fd: number, options?: ToNetSocketOptions): net.Socket {
  checkFd(fd);
  if (isListening(fd, false))
    throw new ArgValueError(`The "fd" argument is a listening socket (fd ${fd}); toNetServer() takes those`);
  const o = checkOptions(options) as ToNetSocketOptions;
  if (o.allowHalfOpen !== undefined && typeof o.allowHalfOpen !== 'boolean')
    throw new ArgTypeError(
      `The "options.allowHalfOpen" property must be a boolean, received ${describe(o.allowHalfOpen)}`,
    );
  release(fd);
  const socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: o.allowHalfOpen ?? false });
  own(fd, 'net.Socket', socket);
  return socket;
}

/**
 * Makes a listening socket (socket, bind, listen with this package) a
 * net.Server: `server.listen({ fd })`, on `server` or a new one. Its
 * 'connection' events then come from that fd; node:net owns and closes it
 * (server.close()), and this package's close() refuses it.
 * @throws HandedOffError when the fd was handed off already; TypeError
 *   naming `fd`
 * Teaches: listen({ fd }) is how a process serves on a socket it inherited
 * (systemd socket activation, a master that forks workers).
 */
export function toNetServer(fd: number, server: net.Server = net.createServer()): net.Server {
  checkFd(fd);
  if (!(server instanceof net.Server))
    throw new ArgTypeError(`The "server" argument must be a net.Server, received ${describe(server)}`);
  // node:net would find out only later, as an 'error' event that ends the
  // process when nobody listens for it: say so now.
  if (!isListening(fd))
    throw new ArgValueError(`The "fd" argument must be a listening socket; fd ${fd} is not (call listen() first)`);
  release(fd);
  own(fd, 'net.Server', server);
  server.listen({ fd });
  return server;
}

/**
 * The fd of a net.Socket or listening net.Server, for raw calls (options,
 * names, a send, or a fork whose child serves it). node:net still owns it,
 * so this package's close() refuses it until node:net closed it.
 *
 * Caveats: the fd is non-blocking (libuv set O_NONBLOCK), so a blocking
 * call of this package on it throws BlockingIOError where it would wait;
 * the promise API cannot watch it while node:net does (libuv allows one
 * watcher per fd: EEXIST); bytes node:net already read are in its buffer,
 * not in the kernel. A forked child inherits the fd like any other; to
 * serve it there with this package, `dup()` it: the copy is the child's to
 * close.
 * @throws TypeError when `x` is not a net.Socket or net.Server; Error when
 *   it has no fd (not yet connected or listening, or closed)
 * Teaches: every node:net object stands on one fd in the kernel.
 */
export function fdOf(x: net.Socket | net.Server): number {
  if (!(x instanceof net.Socket) && !(x instanceof net.Server))
    throw new ArgTypeError(`The argument must be a net.Socket or net.Server, received ${describe(x)}`);
  const handle = (x as unknown as { _handle?: { fd?: number } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0)
    throw new Error('fdOf: this net object has no fd (not connected or listening yet, or closed)');
  if (ownerOf(fd) === undefined) {
    release(fd);
    own(fd, x instanceof net.Server ? 'net.Server' : 'net.Socket', x);
  }
  return fd;
}

/** Whether node:net owns `fd` after a hand-off. Never throws. */
export function isHandedOff(fd: number): boolean {
  return ownerOf(fd) !== undefined;
}
