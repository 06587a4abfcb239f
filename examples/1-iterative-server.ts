/**
 * Lesson 1: the iterative server. One process, one loop, one client at a
 * time: wait for a connection, read a line, answer it, hang up, wait again.
 * Every later lesson (forking, reaping, signals) exists because of what this
 * one cannot do: while it serves one client, every other client waits in
 * the kernel's listen queue.
 *
 * Run it:   node dist/examples/1-iterative-server.js            (port 9093)
 *           node dist/examples/1-iterative-server.js --port 9200 --host 127.0.0.1
 *           PORT=9200 node dist/examples/1-iterative-server.js
 * Try it:   printf 'hi\n' | nc 127.0.0.1 9093
 * Watch it: WTF_TRACE=1 node dist/examples/1-iterative-server.js  (each system call as strace shows it)
 * Stop it:  Ctrl-C. No handler is installed: SIGINT and SIGTERM keep their
 *           default action, which ends the process even in the middle of a
 *           blocking accept(2).
 *
 * In your own project, import from 'what-the-fork' instead of '../lib'.
 */
import { ConnectionAbortedError, LineTooLongError, PosixError, ReuseAddr, Socket } from '../lib/index.ts';
import { declareOptions, HOST_HELP, hostOption, option, PORT_HELP, portOption } from './tools/options.ts';

// ---- settings: --port N (or PORT), --host ADDRESS, --timeout SECONDS ------------

declareOptions({
  about: 'Lesson 1: the iterative server, one client at a time.',
  values: {
    port: PORT_HELP,
    host: HOST_HELP,
    timeout: 'seconds a client has to send its whole line (default 30)',
  },
});
const port = portOption();
// This machine only (127.0.0.1) unless --host says otherwise; 0.0.0.0 is
// every interface, as the original binds.
const { host: listenAddress, domain } = hostOption();
// How long one client may keep the whole server waiting for its line.
const timeoutSeconds = option('timeout', 30, { min: 0.001, max: 3600, fractions: true });
// A client may send at most this much before its newline: the server never
// buffers an unbounded line.
const MAX_LINE = 64 * 1024;
// The reply is bytes: this prefix, the client's line exactly as it came, a
// newline. A socket carries bytes, not text; decoding the line as UTF-8 and
// encoding it again would turn every byte that is not UTF-8 into U+FFFD.
const PREFIX = Buffer.from('SERVED BY Node: ');
const NEWLINE = Buffer.from('\n');

// socket(2): asks the kernel for a TCP endpoint (AF_INET, SOCK_STREAM) and
// gets back a small integer, a file descriptor. Nothing is on the network yet.
const server = new Socket({ domain });

// setsockopt(2) with SO_REUSEADDR (see socket(7)): after a restart, the old
// server's connections linger in TIME_WAIT for a minute or so. Without this
// option bind(2) would refuse the port until they are gone.
server.setSockOpt(ReuseAddr, true);

// bind(2): attaches the socket to a local address and port. This is where
// "address already in use" (EADDRINUSE) shows up if another process holds it.
server.bindAddr(port, listenAddress);

// listen(2): turns the socket into a passive one. From here on the kernel
// completes TCP handshakes by itself and queues the finished connections,
// whether or not we are calling accept(2) at the moment.
server.listen();

// getsockname(2): asks which address the socket really got (with --port 0
// the kernel picks a free port, and this is how to learn which).
const [boundHost, boundPort] = server.getLocalAddr();
console.log(`Listening on: ${boundHost}:${boundPort}`);

// ---- the loop ------------------------------------------------------------------

// One Socket object is reused for every client: accept fills it in, close
// empties it, like the client variable of the original program.
const client = new Socket();

for (;;) {
  // accept(2): blocks until the listen queue has a connection, then hands
  // it over as a brand-new fd. The listening fd itself never carries data.
  try {
    server.accept(client);
  } catch (err) {
    // ECONNABORTED: the client gave up while still in the queue. Not our
    // problem; anything else (EMFILE, say) is, and ends the server.
    if (err instanceof ConnectionAbortedError) continue;
    throw err;
  }
  try {
    // recv(2), as often as needed: TCP delivers a stream of bytes, not
    // lines, so readLineBytes buffers what arrives until it sees "\n" (or
    // the client hangs up) and returns the line, without its line ending,
    // as the bytes that came. MAX_LINE keeps a client from making us buffer
    // without end. The timeout bounds the whole line, however many recv(2)
    // calls it takes: a client that connects and says nothing, or trickles
    // a byte at a time, would otherwise stall every client behind it; this
    // turns that into an error (TimeoutError) for this client alone.
    const line = client.readLineBytes(MAX_LINE, { timeoutMs: Math.ceil(timeoutSeconds * 1000) });

    // send(2): the kernel may take fewer bytes than offered; Socket.send
    // calls it again until everything is queued. A peer that already left
    // gives EPIPE as an error, never a SIGPIPE that would kill the server.
    client.send(Buffer.concat([PREFIX, line, NEWLINE]));
  } catch (err) {
    // One client's trouble (it reset the connection, timed out, sent a
    // huge line) is no reason to stop serving the next one.
    if (err instanceof PosixError || err instanceof LineTooLongError) {
      console.error(`client error: ${err.message}`);
    } else {
      throw err;
    }
  } finally {
    // close(2): releases the fd. With no other copy of it open, the kernel
    // sends FIN and the client reads end of stream after our reply.
    client.close();
  }
}
