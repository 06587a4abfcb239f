// The linux-arm64 smoke test's program: run by the official arm64 Node
// binary under qemu-user, in a project where what-the-fork is installed from
// the tarball. Checks that the arm64 prebuild is what loaded, a TCP round
// trip over loopback, a typed errno, and fork + waitpid; prints one
// "N passed, N failed" line and exits non-zero on any failure.
'use strict';
const fs = require('node:fs');
const w = require('what-the-fork');

let passed = 0;
let failed = 0;
function check(what, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'FAILED'}: ${what}${ok ? '' : ` ${detail}`}`);
}

const maps = fs.readFileSync('/proc/self/maps', 'utf8');
check('process.arch is arm64', process.arch === 'arm64', process.arch);
check('the linux-arm64 prebuild is loaded', maps.includes('prebuilds/linux-arm64/what-the-fork.glibc.node'));

const loopback = { family: 'AF_INET', address: '127.0.0.1' };
const server = w.socket('AF_INET', 'SOCK_STREAM');
w.bind(server, { ...loopback, port: 0 });
w.listen(server, 4);
const { port } = w.getsockname(server);
const client = w.socket('AF_INET', 'SOCK_STREAM');
w.connect(client, { ...loopback, port });
const peer = w.accept(server, { timeoutMs: 10000 });
w.sendAll(client, 'ping');
check('send and recv over loopback', w.recv(peer.fd, 16).toString() === 'ping');

const other = w.socket('AF_INET', 'SOCK_STREAM');
try {
  w.bind(other, { ...loopback, port });
  check('bind to a port in use throws', false);
} catch (err) {
  check('bind to a port in use throws AddressInUseError', err instanceof w.AddressInUseError, String(err));
}
w.close(other);

const pid = w.fork();
if (pid === 0) {
  w.sendAll(peer.fd, 'from the child');
  w._exit(7);
}
check('the child answers', w.recv(client, 64, { timeoutMs: 10000 }).toString() === 'from the child');
const status = w.waitpid(pid);
check('waitpid reports exit code 7', status.kind === 'exited' && status.code === 7, JSON.stringify(status));

for (const fd of [peer.fd, client, server]) w.close(fd);
console.log(`arm64: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 && passed === 6 ? 0 : 1;
