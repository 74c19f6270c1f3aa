// TCP connect-scan backend: one thread per engine drives non-blocking connects with epoll and hands
// completions back to JavaScript in batches through a thread-safe function. It decides nothing about
// timing: JavaScript says what to connect to and how long one try may take (and may shorten that
// later: retime); the thread times each try on its own clock and reports what happened (connected,
// refused, timed out, an errno) with the round-trip time taken here, in C.
//
// Socket reuse (measured in ../shared/TOOLCHAIN.md "Native engines"): on loopback a second connect()
// straight after EINPROGRESS already returns the outcome, so most ports cost two syscalls and never
// reach epoll. A refused socket is unconnected again and takes the next port; a connected one is
// reset with connect(AF_UNSPEC) (tcp_disconnect sends RST: no TIME_WAIT) and reused.
#include "engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

// Free sockets kept per family; more are closed (the pool never outgrows what was in flight anyway).
#define FREE_MAX 4096

typedef struct probe {
  int32_t token;
  int fd;
  int family;
  struct sockaddr_storage addr;
  socklen_t alen;
  int64_t start_ns;
  int64_t deadline_ns;
} probe;

typedef struct tcp_state {
  int free_fds[2][FREE_MAX];
  int n_free[2];
  probe **pending;  // waiting in epoll
  size_t n_pending, cap_pending;
} tcp_state;

static int fam_index(int family) { return family == AF_INET6 ? 1 : 0; }

static void give_back(tcp_state *s, int family, int fd) {
  int i = fam_index(family);
  if (s->n_free[i] < FREE_MAX) s->free_fds[i][s->n_free[i]++] = fd;
  else close(fd);
}

static int take_socket(tcp_state *s, int family) {
  int i = fam_index(family);
  if (s->n_free[i] > 0) return s->free_fds[i][--s->n_free[i]];
  return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static int64_t rtt_us(int64_t start_ns) { return (now_ns() - start_ns) / 1000; }

// The kernel may pick the destination port as our source port; with no listener the SYN then meets
// itself (a simultaneous open, RFC 793 3.4): connected, but to ourselves, not to a service.
static int is_self_connect(probe *p) {
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(p->fd, (struct sockaddr *)&local, &len) != 0) return 0;
  if (local.ss_family != p->family) return 0;
  if (p->family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&local, *b = (struct sockaddr_in *)&p->addr;
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)&local, *b = (struct sockaddr_in6 *)&p->addr;
  return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
}

static void on_connected(engine *e, tcp_state *s, probe *p) {
  int32_t rtt = (int32_t)rtt_us(p->start_ns);
  int self = is_self_connect(p);
  engine_complete(e, p->token, self ? K_SELF : K_OPEN, 0, rtt);
  // connect(AF_UNSPEC) = tcp_disconnect: RST to the peer, the socket unconnected and reusable.
  struct sockaddr unspec = {.sa_family = AF_UNSPEC};
  if (connect(p->fd, &unspec, sizeof unspec) == 0) {
    // tcp_disconnect leaves sk_err = ECONNRESET behind; read it so the next connect doesn't see it.
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    give_back(s, p->family, p->fd);
  } else {
    close(p->fd);
  }
  free(p);
}

static void on_failed(engine *e, tcp_state *s, probe *p, int err) {
  if (err == ECONNREFUSED) {
    engine_complete(e, p->token, K_CLOSED, err, (int32_t)rtt_us(p->start_ns));
    give_back(s, p->family, p->fd);  // a refused socket is unconnected again
  } else {
    engine_complete(e, p->token, err == ECONNRESET ? K_CLOSED : K_ERROR, err, (int32_t)rtt_us(p->start_ns));
    close(p->fd);
  }
  free(p);
}

static void pend(engine *e, tcp_state *s, probe *p) {
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = p};
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, p->fd, &ev) != 0) {
    on_failed(e, s, p, errno);
    return;
  }
  if (s->n_pending == s->cap_pending) {
    s->cap_pending = s->cap_pending ? s->cap_pending * 2 : 256;
    s->pending = realloc(s->pending, s->cap_pending * sizeof *s->pending);
  }
  s->pending[s->n_pending++] = p;
}

static void unpend(engine *e, tcp_state *s, size_t i) {
  probe *p = s->pending[i];
  epoll_ctl(e->epfd, EPOLL_CTL_DEL, p->fd, NULL);
  s->pending[i] = s->pending[--s->n_pending];
}

static size_t find_pending(tcp_state *s, probe *p) {
  for (size_t i = 0; i < s->n_pending; i++)
    if (s->pending[i] == p) return i;
  return (size_t)-1;
}

static void tcp_start(engine *e, void *state, const int32_t *req) {
  tcp_state *s = state;
  if (req[2] != 4 && req[2] != 6) return;  // withdrawn by JavaScript (not an address)
  int family = req[2] == 6 ? AF_INET6 : AF_INET;
  probe *p = calloc(1, sizeof *p);
  p->token = req[0];
  p->family = family;
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&p->addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)req[1]);
    memcpy(&a->sin_addr, &req[4], 4);
    p->alen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&p->addr;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)req[1]);
    memcpy(&a->sin6_addr, &req[4], 16);
    p->alen = sizeof *a;
  }
  p->fd = take_socket(s, family);
  if (p->fd < 0) {
    // EMFILE/ENFILE/ENOBUFS: about this machine, never the target. JavaScript backs off.
    engine_complete(e, p->token, K_ERROR, errno, 0);
    free(p);
    return;
  }
  p->start_ns = now_ns();
  p->deadline_ns = p->start_ns + (int64_t)req[3] * 1000000;
  if (connect(p->fd, (struct sockaddr *)&p->addr, p->alen) == 0) return on_connected(e, s, p);
  if (errno != EINPROGRESS) return on_failed(e, s, p, errno);
  // On loopback the handshake (or the RST) has usually been processed before connect() returned.
  if (connect(p->fd, (struct sockaddr *)&p->addr, p->alen) == 0 || errno == EISCONN) return on_connected(e, s, p);
  if (errno == EALREADY || errno == EINPROGRESS) return pend(e, s, p);
  on_failed(e, s, p, errno);
}

static void tcp_event(engine *e, void *state, void *ptr, uint32_t events) {
  (void)events;
  tcp_state *s = state;
  probe *p = ptr;
  size_t i = find_pending(s, p);
  if (i == (size_t)-1) return;
  unpend(e, s, i);
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) on_connected(e, s, p);
  else on_failed(e, s, p, err);
}

static int64_t tcp_expire(engine *e, void *state, int64_t now) {
  tcp_state *s = state;
  int64_t next = -1;
  for (size_t i = 0; i < s->n_pending;) {
    probe *p = s->pending[i];
    if (p->deadline_ns <= now) {
      unpend(e, s, i);
      engine_complete(e, p->token, K_TIMEOUT, 0, 0);
      close(p->fd);  // in SYN_SENT: not worth resetting for reuse
      free(p);
      continue;
    }
    if (next < 0 || p->deadline_ns < next) next = p->deadline_ns;
    i++;
  }
  return next;
}

static void tcp_retime(engine *e, void *state, int32_t token, int32_t timeout_ms) {
  tcp_state *s = state;
  for (size_t i = 0; i < s->n_pending; i++) {
    probe *p = s->pending[i];
    if (p->token != token) continue;
    int64_t deadline = p->start_ns + (int64_t)timeout_ms * 1000000;
    if (deadline < p->deadline_ns) p->deadline_ns = deadline;  // expire() runs right after
    return;
  }
  // Not pending: answered already, and its completion is on its way to JavaScript.
}

static void tcp_cancel(engine *e, void *state, int32_t token) {
  tcp_state *s = state;
  for (size_t i = 0; i < s->n_pending; i++) {
    probe *p = s->pending[i];
    if (p->token != token) continue;
    unpend(e, s, i);
    close(p->fd);
    free(p);
    return;
  }
}

static void tcp_destroy(engine *e, void *state) {
  tcp_state *s = state;
  for (size_t i = 0; i < s->n_pending; i++) {
    epoll_ctl(e->epfd, EPOLL_CTL_DEL, s->pending[i]->fd, NULL);
    close(s->pending[i]->fd);
    free(s->pending[i]);
  }
  for (int f = 0; f < 2; f++)
    for (int i = 0; i < s->n_free[f]; i++) close(s->free_fds[f][i]);
  free(s->pending);
  free(s);
}

static void *tcp_create(engine *e, int *err) {
  (void)e;
  *err = 0;
  return calloc(1, sizeof(tcp_state));
}

const backend tcp_backend = {
    .name = "tcp",
    .request_words = 8,
    .create = tcp_create,
    .start = tcp_start,
    .event = tcp_event,
    .expire = tcp_expire,
    .cancel = tcp_cancel,
    .destroy = tcp_destroy,
    .retime = tcp_retime,
};
