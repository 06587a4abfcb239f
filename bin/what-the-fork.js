#!/usr/bin/env node
// what-the-fork serve <app> [options]: the prefork server (docs/prefork.md).
// fork() needs node's --single-threaded flag; this restarts node with it
// (same pid, same fds, so systemd's LISTEN_PID still matches) when missing.
'use strict';
require('../dist/lib/index.js').execSingleThreaded();
require('../dist/lib/prefork/cli.js').main(process.argv.slice(2));
