// The numbers the JavaScript layer and the addon agree on that are this
// package's own (system constants such as SO_REUSEADDR or SA_RESTART come
// from the system headers). Each is exported by name in `constants`
// (constants.cc) and read from there by lib/native.ts; a test checks that
// both sides name the same set.
#pragma once

namespace wtf::contract {

// setsockopt/getsockopt: how the option's value is laid out.
enum SockoptKind : int { kSockoptInt = 0, kSockoptTimeval = 1, kSockoptLinger = 2 };
// sigaction: what to install.
enum Disposition : int { kDispositionPrevious = 0, kDispositionIgnore = 1, kDispositionHandle = 2 };
// The forked child's loop-drain watcher: which of Node's exit steps it asks
// JavaScript for.
enum DrainPhase : int { kDrainIdle = 0, kDrainBeforeExit = 1, kDrainExit = 2 };
// The promise API's readiness watch (poll.cc): which events a call waits for.
enum PollEvents : int { kPollReadable = 1, kPollWritable = 2 };

}  // namespace wtf::contract
