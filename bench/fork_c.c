/*
 * The C side of the fork benchmark: allocates and touches `mb` megabytes
 * (so its resident size matches the Node process it is compared with),
 * then times `n` rounds of fork + child _exit(0) + waitpid, one at a time.
 * Prints one JSON line: {"ms": per round trip, "rssMB": ..., "vmas": ...}.
 *
 *   cc -O2 -o /tmp/fork_c bench/fork_c.c && /tmp/fork_c <mb> <n>
 *
 * The memory is one malloc (glibc maps it as a single anonymous mapping)
 * filled with memset: plain 4 KiB pages, since transparent huge pages are
 * only used on request ("madvise" mode) and this program does not ask.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static long status_kb(const char* key) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0) v = atol(line + n);
  if (f) fclose(f);
  return v;
}

static int count_vmas(void) {
  FILE* f = fopen("/proc/self/maps", "r");
  int c, n = 0;
  while (f && (c = fgetc(f)) != EOF)
    if (c == '\n') n++;
  if (f) fclose(f);
  return n;
}

int main(int argc, char** argv) {
  long mb = argc > 1 ? atol(argv[1]) : 0;
  int n = argc > 2 ? atoi(argv[2]) : 200;
  /* Top up to `mb` of resident memory, counting what the program already has. */
  long have = status_kb("VmRSS:") / 1024;
  char* mem = NULL;
  if (mb > have) {
    size_t bytes = (size_t)(mb - have) << 20;
    mem = malloc(bytes);
    if (!mem) return 1;
    memset(mem, 1, bytes);
  }
  double t0 = now_ms();
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) _exit(0);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return 3;
  }
  double ms = (now_ms() - t0) / n;
  printf("{\"ms\":%.4f,\"rssMB\":%.1f,\"vmas\":%d,\"touched\":%d}\n", ms, status_kb("VmRSS:") / 1024.0,
         count_vmas(), mem ? mem[n % 4096] : 0);
  return 0;
}
