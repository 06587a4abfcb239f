#!/usr/bin/env node
// what-the-fork serve <app> [options]: the prefork server (docs/prefork.md).
// fork() needs node's --single-threaded flag; this restarts node with it
// (execve: same pid, so systemd's LISTEN_PID still matches) when missing.
'use strict';
const lib = require('../dist/lib/index.js');
const { inheritedListenFds } = require('../dist/lib/prefork/listeners.js');
// Node marks the fds it inherited close-on-exec at start-up; the listening
// sockets handed to this command must survive the restart.
for (const fd of inheritedListenFds(process.argv.slice(2))) lib.setCloseOnExec(fd, false);
lib.execSingleThreaded();
require('../dist/lib/prefork/cli.js').main(process.argv.slice(2));
