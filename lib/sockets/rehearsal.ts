/**
 * The socket path rehearsal: before a fork, the parent runs once through
 * what a forked server's child does with its connection, so each child
 * starts with that code compiled.
 *
 * Functions a child calls and the parent never did would be compiled again
 * in every child. For what a forked server's child does with its connection
 * (read a line, send, close), one round trip over a socketpair here compiles
 * that path (Socket.readLine, send, recv, close and the Buffer methods under
 * them) in the parent before a fork, so each child starts with it ready;
 * measured on a fork-per-connection server, about a fifth of each child's
 * CPU time. It never runs a signal handler: it waits while a signal is
 * pending, and a signal that arrives during it ends it with the signal left
 * pending for the user's next call; it is tried again at a later fork (three
 * tries in all). A failure (EMFILE, say) costs only the saving. The trace
 * does not show it.
 */
import { holdingSignalHandlers } from '../blocking.ts';
import { beforeFork } from '../process/fork.ts';
import { signalsPending } from '../signals/dispatch.ts';
import { untraced } from '../trace.ts';
import { Socket } from './socket-class.ts';
import { socketpair } from './syscalls.ts';

let rehearsals = 0;
let tries = 0;

/** How many times the socket path was rehearsed in this process (tests read it). Not exported from the package. */
export function socketPathRehearsals(): number {
  return rehearsals;
}

function rehearseSocketPath(): void {
  if (rehearsals > 0 || tries >= 3 || signalsPending()) return;
  tries++;
  untraced(() =>
    holdingSignalHandlers(() => {
      const ends: Socket[] = [];
      try {
        for (const fd of socketpair('AF_UNIX', 'SOCK_STREAM', { cloexec: true })) ends.push(new Socket({ fd }));
        const [a, b] = ends;
        a.send('rehearsal\n');
        b.readLine(64);
        b.send('ok');
        a.recv(16);
        rehearsals++;
      } catch {
        // only the saving is lost
      } finally {
        for (const s of ends) s.close();
      }
    }),
  );
}

beforeFork(rehearseSocketPath);
