#!/usr/bin/env node
// what-the-fork serve <app> [options]: the prefork server (docs/prefork.md).
// fork() needs node's --single-threaded flag, and each worker's young
// generation is best kept small (cli.nodeFlagsToAdd): this restarts node
// with what is missing (execve: same pid, so systemd's LISTEN_PID still
// matches).
'use strict';
const lib = require('../dist/lib/index.js');
const { inheritedListenFds } = require('../dist/lib/prefork/listeners.js');
// Node marks the fds it inherited close-on-exec at start-up; the listening
// sockets handed to this command must survive the restart.
for (const fd of inheritedListenFds(process.argv.slice(2))) lib.setCloseOnExec(fd, false);
const cli = require('../dist/lib/prefork/cli.js');
const add = cli.nodeFlagsToAdd(process.argv.slice(2), process.execArgv, process.env.NODE_OPTIONS ?? '');
if (add.length > 0)
  lib.execve(process.execPath, [process.argv0, ...add, ...process.execArgv, ...process.argv.slice(1)]);
cli.main(process.argv.slice(2));
