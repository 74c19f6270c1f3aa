// Drives one backend (tcp.c, icmp.c or syn.c) without Node, so valgrind and AddressSanitizer see
// every byte the backend touches at native speed (Node itself under valgrind is 30x slower and
// noisy). Built by test/native-memory.test.ts and test/syn-memory.test.ts (-DWITH_SYN) with the
// compiler that builds the addon:
//   harness tcp 127.0.0.1 65535 WINDOW    connects to ports 1..N
//   harness icmp 127.0.0.0 65536 WINDOW   echoes to N addresses from the base
//   harness syn 127.0.0.1 65535 WINDOW    SYNs to ports 1..N, with cancels and retimes on the way
// Prints the completions by kind; exits 0 when every request got exactly one completion.
#define _GNU_SOURCE
#include "engine.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static long outstanding, completions, kinds[8];
#ifdef WITH_SYN
static uint8_t *completed;  // by token: a cancel after the answer must not count as a completion
#endif

int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void engine_complete(engine *e, int32_t token, int32_t kind, int32_t detail, int32_t rtt_us) {
  (void)e, (void)token, (void)detail, (void)rtt_us;
  outstanding--;
  completions++;
#ifdef WITH_SYN
  if (completed) completed[token] = 1;
#endif
  if (kind >= 0 && kind < 8) kinds[kind]++;
}

int engine_watch(engine *e, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  int tcp = strcmp(argv[1], "tcp") == 0;
  const backend *be = tcp ? &tcp_backend : &icmp_backend;
#ifdef WITH_SYN  // test/syn-memory.test.ts: `harness syn 127.0.0.1 65535 WINDOW`, ports 1..N
  int syn = strcmp(argv[1], "syn") == 0;
  int32_t cancel_sent = 0, retime_sent = 0;
  if (syn) be = &syn_backend, tcp = 1;
  completed = calloc((size_t)atol(argv[3]) + 2, 1);
#endif
  long total = atol(argv[3]), window = atol(argv[4]);
  int family = strchr(argv[2], ':') ? 6 : 4;
  uint8_t base[16] = {0};
  inet_pton(family == 4 ? AF_INET : AF_INET6, argv[2], base);
  engine e = {.be = be};
  e.epfd = epoll_create1(0);
  int err = 0;
  e.state = be->create(&e, &err);
  if (!e.state) {
    fprintf(stderr, "harness: %s: %s\n", be->name, strerror(err));
    return 3;
  }
  long sent = 0;
  struct epoll_event events[256];
  while (sent < total || outstanding > 0) {
    for (; sent < total && outstanding < window; sent++, outstanding++) {
      int32_t req[8] = {(int32_t)sent + 1, tcp ? (int32_t)(sent % 65535) + 1 : 0, family, 1000, 0, 0, 0, 0};
      uint8_t addr[16];
      memcpy(addr, base, 16);
      if (!tcp) {  // the next address: add `sent` to the last four bytes
        int at = family == 4 ? 0 : 12;
        uint32_t v = (uint32_t)addr[at] << 24 | addr[at + 1] << 16 | addr[at + 2] << 8 | addr[at + 3];
        v += (uint32_t)sent;
        addr[at] = v >> 24, addr[at + 1] = v >> 16, addr[at + 2] = v >> 8, addr[at + 3] = v;
      }
      memcpy(&req[4], addr, 16);
      be->start(&e, e.state, req);
#ifdef WITH_SYN
      // Cancels on the way, each counted as that request's completion: one in 100 while its SYN is
      // still queued, one in 100 once it left (after the flush).
      if (syn && sent % 100 == 50) be->cancel(&e, e.state, req[0]), outstanding--, completions++;
      if (syn && sent % 100 == 75) cancel_sent = req[0];
      // A shorter wait for one in 100 while it is queued (still far above a loopback answer).
      if (syn && sent % 100 == 90) be->retime(&e, e.state, req[0], 500);
      if (syn && sent % 100 == 95) retime_sent = req[0];
#endif
    }
    if (be->flush) be->flush(&e, e.state);
#ifdef WITH_SYN
    // (The flush reads the answers that came at once: a cancel after one of them is a no-op.)
    if (cancel_sent && !completed[cancel_sent]) be->cancel(&e, e.state, cancel_sent), outstanding--, completions++;
    cancel_sent = 0;
    // And one once it left (unless answered already): a new deadline, the old one left to lapse.
    if (retime_sent) be->retime(&e, e.state, retime_sent, 600);
    retime_sent = 0;
#endif
    int64_t next = be->expire(&e, e.state, now_ns());
    int timeout = next < 0 ? 100 : (int)((next - now_ns()) / 1000000 + 1);
    if (timeout < 0) timeout = 0;
    if (sent < total && outstanding < window) timeout = 0;  // answers read by the flush made room
    int n = epoll_wait(e.epfd, events, 256, timeout);
    for (int i = 0; i < n; i++) be->event(&e, e.state, events[i].data.ptr, events[i].events);
  }
  be->cancel(&e, e.state, 1);  // a token no longer in flight: must be a no-op
  be->destroy(&e, e.state);
  close(e.epfd);
#ifdef WITH_SYN
  free(completed);
#endif
  printf("requests %ld completions %ld open %ld closed %ld timeout %ld error %ld self %ld reply %ld icmp-error %ld\n", sent, completions,
         kinds[K_OPEN], kinds[K_CLOSED], kinds[K_TIMEOUT], kinds[K_ERROR], kinds[K_SELF], kinds[K_REPLY], kinds[K_ICMP_ERROR]);
  return completions == sent ? 0 : 1;
}
