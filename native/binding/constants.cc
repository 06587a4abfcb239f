// Numeric constants the JavaScript layer needs: from the system headers, and
// the package's own contract (contract.h). Errno values and signal numbers
// come from Node's os.constants instead.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "binding.h"
#include "contract.h"

namespace wtf::binding {

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define WTF_CONST(name) c.Set(#name, Napi::Number::New(env, name))
  WTF_CONST(AF_INET), WTF_CONST(AF_INET6), WTF_CONST(AF_UNIX), WTF_CONST(AF_UNSPEC);
  WTF_CONST(SOCK_STREAM), WTF_CONST(SOCK_DGRAM), WTF_CONST(SOCK_SEQPACKET), WTF_CONST(SOCK_RAW);
  WTF_CONST(SOCK_NONBLOCK), WTF_CONST(SOCK_CLOEXEC), WTF_CONST(O_NONBLOCK), WTF_CONST(O_CLOEXEC);
  WTF_CONST(FD_CLOEXEC);
  WTF_CONST(SOL_SOCKET), WTF_CONST(IPPROTO_TCP), WTF_CONST(IPPROTO_IPV6);
  WTF_CONST(SO_REUSEADDR), WTF_CONST(SO_REUSEPORT), WTF_CONST(SO_RCVTIMEO), WTF_CONST(SO_SNDTIMEO);
  WTF_CONST(SO_KEEPALIVE), WTF_CONST(SO_LINGER), WTF_CONST(SO_RCVBUF), WTF_CONST(SO_SNDBUF);
  WTF_CONST(SO_ERROR), WTF_CONST(SO_TYPE), WTF_CONST(SO_ACCEPTCONN), WTF_CONST(SO_BROADCAST),
      WTF_CONST(TCP_NODELAY);
  WTF_CONST(IPV6_V6ONLY), WTF_CONST(SHUT_RD), WTF_CONST(SHUT_WR), WTF_CONST(SHUT_RDWR);
  WTF_CONST(MSG_PEEK), WTF_CONST(MSG_DONTWAIT), WTF_CONST(MSG_WAITALL), WTF_CONST(MSG_NOSIGNAL);
  WTF_CONST(MSG_OOB), WTF_CONST(MSG_MORE);
  WTF_CONST(WNOHANG), WTF_CONST(WUNTRACED), WTF_CONST(WCONTINUED);
  WTF_CONST(SA_RESTART), WTF_CONST(SA_NOCLDSTOP), WTF_CONST(SA_NOCLDWAIT);
  WTF_CONST(SOMAXCONN);
#undef WTF_CONST
#define WTF_CONTRACT(js, cc) c.Set(js, Napi::Number::New(env, contract::cc))
  WTF_CONTRACT("SOCKOPT_INT", kSockoptInt), WTF_CONTRACT("SOCKOPT_TIMEVAL", kSockoptTimeval);
  WTF_CONTRACT("SOCKOPT_LINGER", kSockoptLinger);
  WTF_CONTRACT("DISPOSITION_PREVIOUS", kDispositionPrevious);
  WTF_CONTRACT("DISPOSITION_IGNORE", kDispositionIgnore);
  WTF_CONTRACT("DISPOSITION_HANDLE", kDispositionHandle);
  WTF_CONTRACT("DRAIN_BEFORE_EXIT", kDrainBeforeExit), WTF_CONTRACT("DRAIN_EXIT", kDrainExit);
  WTF_CONTRACT("POLL_READABLE", kPollReadable), WTF_CONTRACT("POLL_WRITABLE", kPollWritable);
#undef WTF_CONTRACT
  return c;
}

}  // namespace wtf::binding
