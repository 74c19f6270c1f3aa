// TCP SYN-scan backend: raw sockets on the engine thread send crafted SYNs and read the answers;
// like the other backends it decides only what it sees: JavaScript's timing core says what to send
// and how long each try may wait (the request's timeout, shortened later by retime), and the thread
// judges that wait on its own clock from the send, as native/tcp.c does.
//
// - The SYN's sequence number is a keyed cookie, SipHash-2-4 under a per-engine random key of the
//   two addresses and ports, so an answer is ours when its ack is cookie + 1 (an RST to a SYN acks
//   seq + 1 too, RFC 793 3.4): nobody off the path can forge one, and a stale answer of an earlier
//   try is as good as the current one. Probes are then found by (address, port) to name the token.
// - SYN-ACK = open, RST = closed, silence = a timeout (JavaScript calls the port filtered after its
//   tries). The half-open connection at the target is closed by our kernel: the SYN-ACK meets no
//   socket here and the kernel answers it with an RST.
// - Answers are read from a raw IPPROTO_TCP socket per family. IPv4 SYNs go out through an
//   IPPROTO_RAW socket with our own IP header (send only: it gets no copies of the machine's TCP
//   packets), IPv6 ones through the receiving socket (the kernel writes their header and checksum).
// - Sends are shared with a second thread (sender below) when the machine has two CPUs or more.
// - The source port is reserved by binding (never listening, never connecting) a real TCP socket to
//   it, so no local process gets the port while answers to it arrive; one port per family per engine.
// - The source address is the one the kernel picks for the destination (getsockname of a connected
//   UDP socket: the same route lookup), needed for the IPv4 header, the checksum and the cookie.
// - A classic BPF filter keeps every TCP packet not addressed to our port in the kernel (the raw
//   socket otherwise gets a copy of every TCP packet of the machine); what passes and is a SYN
//   without ACK is our own SYN seen again on loopback, and is skipped.
// - ICMP destination-unreachable quoting one of our SYNs (seq = cookie) reaches JavaScript as
//   K_ICMP_ERROR (detail type << 8 | code), read from a raw ICMP socket per family (ICMP_FILTER).
#define _GNU_SOURCE
#include "engine.h"
#include "heap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUCKETS 65536  // power of two
#define BATCH 256
#define SYN_BYTES 24   // 20-byte TCP header + the MSS option
#define IP4_BYTES 20   // the IPv4 header we write for the IPPROTO_RAW socket
#define RECV_BYTES 256
#define SOCKET_BUFFER (4 * 1024 * 1024)

typedef struct probe {
  int32_t token;      // 0: cancelled while queued, freed by the flush
  uint8_t fam;        // 0 IPv4, 1 IPv6
  uint8_t queued;
  uint8_t in_job;     // handed to the sender, not known sent yet: no deadline until it is
  uint16_t port;
  uint8_t addr[16];
  uint8_t src[16];
  int64_t sent_ns;
  int64_t timeout_ns;
  int64_t deadline_ns;
  struct probe *next_key, *next_token;
} probe;

// One sendmmsg's worth of SYNs, built by the engine thread and sent by it or by the sender thread.
typedef struct send_job {
  int fd;
  unsigned n;
  int64_t sent_ns;  // the sender's clock as it sent the job
  int32_t token[BATCH];
  int32_t error[BATCH];  // after the send: 0, or the errno of that SYN
  uint8_t packets[BATCH][IP4_BYTES + SYN_BYTES];
  struct sockaddr_in6 to[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
} send_job;

enum { JOB_FREE, JOB_GIVEN, JOB_SENT };

// A second thread that sends a batch whenever it is free. On loopback (and on any path where the kernel does
// the answering side's work in the sender's context) a SYN costs its sender the target's work too:
// tcp_v4_rcv, the RST and its delivery back, about 3/4 of the engine thread's time by perf on a
// full-port scan of 127.0.0.1. With a second sender that work runs on a second core.
typedef struct sender {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state;  // under mu: JOB_FREE (the engine thread's to fill), JOB_GIVEN (the sender's), JOB_SENT
  int stop;   // under mu
  int evfd;   // written by the sender when a job is sent: the engine thread collects its errors
#ifdef WITH_SYN
  int jobs;
#endif
  send_job job;
} sender;

typedef struct fam_state {
  int family;
  int raw;       // IPPROTO_TCP raw socket, -1 when the family is unavailable
  int send;      // IPv4: an IPPROTO_RAW socket (our IP header, send only); IPv6: raw again
  int icmp;      // ICMP errors, -1 if it could not be opened (then only silence for them)
  int reserve;   // the bound TCP socket holding our source port
  int route;     // a UDP socket, connected to a destination to learn its source address
  uint16_t sport;
  uint8_t last_dst[16], last_src[16];
  int have_last;
  probe **queue;  // started, sent by flush
  size_t n_queue, cap_queue;
} fam_state;

typedef struct syn_state {
  fam_state fam[2];
  uint64_t key[2];
  probe *by_key[BUCKETS];
  probe *by_token[BUCKETS];
  timer_heap heap;  // try deadlines by token; entries of answered, cancelled and retimed probes are dropped lazily
  size_t n_live;  // probes in the indexes
  sender *sender;  // NULL on a one-CPU machine (or if the thread could not start)
  send_job local;  // the batch the engine thread sends itself
} syn_state;

// --- SipHash-2-4 (Aumasson and Bernstein), 64-bit output, for the cookie -------------------------

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                   \
  do {                                                             \
    v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
    v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
    v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
    v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
  } while (0)

static uint64_t siphash(const uint64_t key[2], const uint8_t *in, size_t len) {
  uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
  uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
  uint64_t b = (uint64_t)len << 56;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t m;
    memcpy(&m, in + i, 8);
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  for (size_t j = 0; i + j < len; j++) b |= (uint64_t)in[i + j] << (8 * j);
  v3 ^= b;
  SIPROUND;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

// The cookie of (remote address, remote port, local address, local port); IPv4 in the first 4 bytes.
static uint32_t cookie(const syn_state *s, int fam, const uint8_t *remote, uint16_t rport, const uint8_t *local, uint16_t lport) {
  uint8_t in[37] = {0};
  size_t len = fam ? 16 : 4;
  memcpy(in, remote, len);
  memcpy(in + 16, local, len);
  in[32] = (uint8_t)(rport >> 8), in[33] = (uint8_t)rport;
  in[34] = (uint8_t)(lport >> 8), in[35] = (uint8_t)lport;
  in[36] = (uint8_t)fam;
  return (uint32_t)siphash(s->key, in, sizeof in);
}

// --- Probe indexes: by (family, address, port) for answers, by token for cancels and timeouts -----

static size_t key_bucket(int fam, const uint8_t *addr, uint16_t port) {
  uint32_t h = 2166136261u ^ (uint32_t)fam;
  size_t len = fam ? 16 : 4;
  for (size_t i = 0; i < len; i++) h = (h ^ addr[i]) * 16777619u;
  h = (h ^ port) * 16777619u;
  h ^= h >> 15;
  return h & (BUCKETS - 1);
}

static size_t token_bucket(int32_t token) { return (uint32_t)token & (BUCKETS - 1); }

static void index_probe(syn_state *s, probe *p) {
  s->n_live++;
  size_t k = key_bucket(p->fam, p->addr, p->port);
  p->next_key = s->by_key[k];
  s->by_key[k] = p;
  size_t t = token_bucket(p->token);
  p->next_token = s->by_token[t];
  s->by_token[t] = p;
}

static void unindex_probe(syn_state *s, probe *p) {
  s->n_live--;
  probe **at = &s->by_key[key_bucket(p->fam, p->addr, p->port)];
  while (*at && *at != p) at = &(*at)->next_key;
  if (*at) *at = p->next_key;
  at = &s->by_token[token_bucket(p->token)];
  while (*at && *at != p) at = &(*at)->next_token;
  if (*at) *at = p->next_token;
}

static probe *find_token(syn_state *s, int32_t token) {
  for (probe *p = s->by_token[token_bucket(token)]; p; p = p->next_token)
    if (p->token == token) return p;
  return NULL;
}

// Answered probes leave their deadline behind until it passes (a timeout, up to seconds): a fast scan
// would pile them up, so when they outnumber the live ones the heap is rebuilt from the live ones
// (memory bounded by what is in flight, not by the send rate).
static void compact(syn_state *s) {
  size_t kept = 0;
  for (size_t i = 0; i < s->heap.n; i++) {
    timer t = s->heap.at[i];
    probe *p = find_token(s, (int32_t)t.key);
    if (p != NULL && p->deadline_ns == t.deadline_ns) timer_sift_up(&s->heap, kept++, t);
  }
  s->heap.n = kept;
}

// Times p out at its deadline_ns.
static void arm(syn_state *s, probe *p) {
  if (s->heap.n >= 4096 && s->heap.n > 4 * s->n_live) compact(s);
  timer_push(&s->heap, (timer){p->deadline_ns, (uint32_t)p->token});
}

// --- Sockets ---------------------------------------------------------------------------------------

// Accept a TCP packet only when its destination port is ours. IPv4 raw sockets see the packet from
// the IP header (raw(7)); IPv6 ones from the TCP header (RFC 3542 3).
static void attach_filter(int fd, int family, uint16_t sport) {
  struct sock_filter v4[] = {
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),  // X = IP header length
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),   // A = TCP destination port
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sport, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_filter v6[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sport, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = family == AF_INET ? (struct sock_fprog){5, v4} : (struct sock_fprog){4, v6};
  setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

static void size_buffers(int fd) {
  int size = SOCKET_BUFFER;
  // socket(7): SO_*BUFFORCE lifts wmem_max/rmem_max for a privileged process; plain SO_*BUF otherwise.
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

static void close_fam(fam_state *f) {
  if (f->send != f->raw && f->send >= 0) close(f->send);
  f->send = -1;
  int *fds[] = {&f->raw, &f->icmp, &f->reserve, &f->route};
  for (size_t i = 0; i < 4; i++) {
    if (*fds[i] >= 0) close(*fds[i]);
    *fds[i] = -1;
  }
}

// 0 or an errno. The raw socket first: without CAP_NET_RAW that is the EPERM JavaScript reports.
static int open_fam(engine *e, fam_state *f) {
  int v6 = f->family == AF_INET6;
  f->raw = f->send = f->icmp = f->reserve = f->route = -1;
  f->raw = socket(f->family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (f->raw < 0) return errno;
  f->send = v6 ? f->raw : socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (f->send < 0) return errno;
  f->reserve = socket(f->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  f->route = socket(f->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (f->reserve < 0 || f->route < 0) return errno;
  struct sockaddr_storage any = {.ss_family = (sa_family_t)f->family};
  socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (v6) {
    int on = 1;  // this family only: the IPv4 port is reserved by its own socket
    setsockopt(f->reserve, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  if (bind(f->reserve, (struct sockaddr *)&any, len) != 0 || getsockname(f->reserve, (struct sockaddr *)&any, &len) != 0) return errno;
  f->sport = ntohs(v6 ? ((struct sockaddr_in6 *)&any)->sin6_port : ((struct sockaddr_in *)&any)->sin_port);
  attach_filter(f->raw, f->family, f->sport);
  size_buffers(f->raw);
  if (f->send != f->raw) size_buffers(f->send);
  if (v6) {
    int offset = 16, on = 1;  // the TCP checksum: the kernel fills it in (RFC 3542 3.1)
    if (setsockopt(f->raw, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof offset) != 0) return errno;
    setsockopt(f->raw, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
  }
  if (engine_watch(e, f->raw, EPOLLIN, &f->raw) != 0) return errno;
  f->icmp = socket(f->family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
  if (f->icmp >= 0) {
    if (v6) {
      struct icmp6_filter filter;
      ICMP6_FILTER_SETBLOCKALL(&filter);
      ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &filter);
      setsockopt(f->icmp, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
    } else {
      struct icmp_filter filter = {~(1u << ICMP_DEST_UNREACH)};
      setsockopt(f->icmp, SOL_RAW, ICMP_FILTER, &filter, sizeof filter);
    }
    if (engine_watch(e, f->icmp, EPOLLIN, &f->icmp) != 0) close(f->icmp), f->icmp = -1;
  }
  return 0;
}

static void *sender_main(void *arg);

// The second sender, where this process may use more than one CPU; NULL otherwise or when it cannot start
// (then the engine thread sends everything, as it would anyway).
static sender *start_sender(engine *e) {
  cpu_set_t cpus;  // the CPUs this process may run on (affinity, cpusets), not the machine's
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) < 2 : sysconf(_SC_NPROCESSORS_ONLN) < 2) return NULL;
  sender *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (t->evfd < 0) {
    free(t);
    return NULL;
  }
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
  if (engine_watch(e, t->evfd, EPOLLIN, t) != 0 || pthread_create(&t->thread, NULL, sender_main, t) != 0) {
    close(t->evfd);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
    return NULL;
  }
  return t;
}

static void stop_sender(sender *t) {
  pthread_mutex_lock(&t->mu);
  t->stop = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  pthread_join(t->thread, NULL);
  close(t->evfd);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
  free(t);
}

static void *syn_create(engine *e, int *err) {
  syn_state *s = calloc(1, sizeof *s);
  if (s == NULL) {
    *err = ENOMEM;
    return NULL;
  }
  if (getrandom(s->key, sizeof s->key, 0) != sizeof s->key) {
    *err = errno;
    free(s);
    return NULL;
  }
  for (int i = 0; i < 2; i++) {
    fam_state *f = &s->fam[i];
    f->family = i == 0 ? AF_INET : AF_INET6;
    int failed = open_fam(e, f);
    // IPv4 is the backend: without it (EPERM without CAP_NET_RAW) nothing works. A machine without
    // IPv6 still scans IPv4, and an IPv6 target then gets EAFNOSUPPORT.
    if (failed) {
      close_fam(f);
      if (i == 0) {
        *err = failed;
        free(s);
        return NULL;
      }
    }
  }
  s->sender = start_sender(e);
  *err = 0;
  return s;
}

// The source address the kernel uses for `dst`: connect(2) on a UDP socket does the route lookup
// and sends nothing. 0 or an errno (ENETUNREACH: no route).
static int source_for(fam_state *f, const uint8_t *dst, uint8_t *src) {
  size_t len = f->family == AF_INET ? 4 : 16;
  if (f->have_last && memcmp(f->last_dst, dst, len) == 0) {
    memcpy(src, f->last_src, 16);
    return 0;
  }
  struct sockaddr_storage to = {.ss_family = (sa_family_t)f->family}, local;
  socklen_t tolen;
  if (f->family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&to;
    a->sin_port = htons(9);
    memcpy(&a->sin_addr, dst, 4);
    tolen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to;
    a->sin6_port = htons(9);
    memcpy(&a->sin6_addr, dst, 16);
    tolen = sizeof *a;
  }
  socklen_t llen = sizeof local;
  if (connect(f->route, (struct sockaddr *)&to, tolen) != 0) return errno;
  if (getsockname(f->route, (struct sockaddr *)&local, &llen) != 0) return errno;
  memset(src, 0, 16);
  if (f->family == AF_INET) memcpy(src, &((struct sockaddr_in *)&local)->sin_addr, 4);
  else memcpy(src, &((struct sockaddr_in6 *)&local)->sin6_addr, 16);
  memcpy(f->last_dst, dst, 16);
  memcpy(f->last_src, src, 16);
  f->have_last = 1;
  return 0;
}

static void syn_start(engine *e, void *state, const int32_t *req) {
  syn_state *s = state;
  if (req[2] != 4 && req[2] != 6) return;  // withdrawn by JavaScript (not an address)
  int fam = req[2] == 6;
  const uint8_t *addr = (const uint8_t *)&req[4];
  // ::ffff:a.b.c.d (RFC 4291 2.5.5.2) is an IPv4 host: a raw IPv6 socket cannot reach it, IPv4 can.
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (fam && memcmp(addr, mapped, 12) == 0) fam = 0, addr += 12;
  fam_state *f = &s->fam[fam];
  if (f->raw < 0) {
    engine_complete(e, req[0], K_ERROR, EAFNOSUPPORT, 0);
    return;
  }
  probe *p = calloc(1, sizeof *p);
  if (p == NULL) {
    engine_complete(e, req[0], K_ERROR, ENOMEM, 0);
    return;
  }
  p->token = req[0];
  p->fam = (uint8_t)fam;
  p->port = (uint16_t)req[1];
  memcpy(p->addr, addr, fam ? 16 : 4);
  p->timeout_ns = (int64_t)req[3] * 1000000;
  int err = source_for(f, p->addr, p->src);
  if (err) {
    engine_complete(e, p->token, K_ERROR, err, 0);
    free(p);
    return;
  }
  index_probe(s, p);
  p->queued = 1;
  if (f->n_queue == f->cap_queue) {
    f->cap_queue = f->cap_queue ? f->cap_queue * 2 : 1024;
    f->queue = realloc(f->queue, f->cap_queue * sizeof *f->queue);
  }
  f->queue[f->n_queue++] = p;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void build_syn(const syn_state *s, const fam_state *f, const probe *p, uint8_t *t) {
  uint32_t seq = cookie(s, p->fam, p->addr, p->port, p->src, f->sport);
  memset(t, 0, SYN_BYTES);
  t[0] = (uint8_t)(f->sport >> 8), t[1] = (uint8_t)f->sport;
  t[2] = (uint8_t)(p->port >> 8), t[3] = (uint8_t)p->port;
  t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
  t[12] = (SYN_BYTES / 4) << 4;
  t[13] = 0x02;  // SYN
  t[14] = 1024 >> 8;  // window 1024, as nmap's SYNs
  t[20] = 2, t[21] = 4, t[22] = 1460 >> 8, t[23] = 1460 & 0xff;  // MSS 1460
  if (f->family == AF_INET) {
    // RFC 793 3.1: the checksum covers a pseudo-header of both addresses, protocol and length.
    uint32_t sum = (uint32_t)(p->src[0] << 8 | p->src[1]) + (uint32_t)(p->src[2] << 8 | p->src[3]) +
                   (uint32_t)(p->addr[0] << 8 | p->addr[1]) + (uint32_t)(p->addr[2] << 8 | p->addr[3]) + IPPROTO_TCP + SYN_BYTES;
    for (size_t i = 0; i < SYN_BYTES; i += 2) sum += (uint32_t)(t[i] << 8 | t[i + 1]);
    uint16_t c = fold(sum);
    t[16] = (uint8_t)(c >> 8), t[17] = (uint8_t)c;
  }
}

// raw(7), IP_HDRINCL: the kernel fills in the header checksum and the total length, and the ID
// when it is zero.
static void build_ip4(const probe *p, uint8_t *h) {
  memset(h, 0, IP4_BYTES);
  h[0] = 0x45;  // version 4, 5 words
  h[8] = 64;    // TTL
  h[9] = IPPROTO_TCP;
  memcpy(h + 12, p->src, 4);
  memcpy(h + 16, p->addr, 4);
}

static void free_probe(syn_state *s, probe *p) {
  unindex_probe(s, p);
  free(p);
}

// Sends a job's SYNs, BATCH a syscall; sendmmsg stops at the first message it cannot send and
// reports that one's error: it gets the error, the rest go on.
static void send_job_now(send_job *j) {
  unsigned at = 0;
  while (at < j->n) {
    int sent = sendmmsg(j->fd, j->msgs + at, j->n - at, MSG_DONTWAIT);
    if (sent <= 0) {
      j->error[at++] = sent < 0 ? errno : EAGAIN;
      continue;
    }
    at += (unsigned)sent;
  }
}

// A sent job's errors become those SYNs' completions (EAGAIN, ENOBUFS: JavaScript backs off and
// tries again; EPERM: a local firewall); the others' waits start from when the sender sent them (a
// sender held up by a loaded machine must not cost them their time). A SYN answered, cancelled or
// timed out meanwhile is gone: no word.
static void collect_job(engine *e, syn_state *s, send_job *j) {
  for (unsigned i = 0; i < j->n; i++) {
    probe *p = find_token(s, j->token[i]);
    if (p == NULL) continue;
    if (j->error[i] != 0) {
      engine_complete(e, p->token, K_ERROR, j->error[i], 0);
      free_probe(s, p);
    } else if (p->in_job) {
      p->in_job = 0;
      p->sent_ns = j->sent_ns;
      p->deadline_ns = p->sent_ns + p->timeout_ns;
      arm(s, p);
    }
  }
  j->n = 0;
}

static void *sender_main(void *arg) {
  sender *t = arg;
  pthread_mutex_lock(&t->mu);
  for (;;) {
    while (t->state != JOB_GIVEN && !t->stop) pthread_cond_wait(&t->cv, &t->mu);
    if (t->stop) break;
    pthread_mutex_unlock(&t->mu);
#ifdef WITH_SYN  // native/harness.c only (test/syn-memory.test.ts): a sender held up, as on a loaded machine
    if (++t->jobs == 4 && getenv("HARNESS_SENDER_STALL_MS")) usleep((useconds_t)atoi(getenv("HARNESS_SENDER_STALL_MS")) * 1000);
#endif
    t->job.sent_ns = now_ns();
    send_job_now(&t->job);
    pthread_mutex_lock(&t->mu);
    t->state = JOB_SENT;
    uint64_t one = 1;
    if (write(t->evfd, &one, sizeof one) < 0) { /* EAGAIN: a wake-up is already pending */ }
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

// The sender's job if it is free (a sent one collected first), else NULL: then the engine thread
// sends the batch itself.
static send_job *free_sender_job(engine *e, syn_state *s) {
  sender *t = s->sender;
  if (t == NULL) return NULL;
  pthread_mutex_lock(&t->mu);
  int state = t->state;
  pthread_mutex_unlock(&t->mu);
  if (state == JOB_GIVEN) return NULL;
  if (state == JOB_SENT) {
    collect_job(e, s, &t->job);
    pthread_mutex_lock(&t->mu);
    t->state = JOB_FREE;
    pthread_mutex_unlock(&t->mu);
  }
  return &t->job;
}

// Up to BATCH queued SYNs into `j`, from queue position *done on; each leaves the queue now (its
// answer can come only after the send, and only this thread reads answers). Sent here (`armed`),
// each one's wait starts now; for the sender, when collect_job hears it went out (until then `now`
// is only the start of an answer's RTT).
static void fill_job(syn_state *s, fam_state *f, send_job *j, size_t *done, int64_t now, int armed) {
  size_t header = f->family == AF_INET ? IP4_BYTES : 0;
  j->fd = f->send;
  j->n = 0;
  while (j->n < BATCH && *done < f->n_queue) {
    probe *p = f->queue[*done];
    if (p->token == 0) {  // cancelled before it left (already out of the indexes)
      free(p);
      f->queue[*done] = f->queue[--f->n_queue];
      continue;
    }
    (*done)++;
    unsigned n = j->n++;
    j->token[n] = p->token;
    j->error[n] = 0;
    if (header) build_ip4(p, j->packets[n]);
    build_syn(s, f, p, j->packets[n] + header);
    memset(&j->to[n], 0, sizeof j->to[n]);
    memset(&j->msgs[n], 0, sizeof j->msgs[n]);
    if (f->family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&j->to[n];
      a->sin_family = AF_INET;
      memcpy(&a->sin_addr, p->addr, 4);
      j->msgs[n].msg_hdr.msg_namelen = sizeof *a;
    } else {
      j->to[n].sin6_family = AF_INET6;
      memcpy(&j->to[n].sin6_addr, p->addr, 16);
      j->msgs[n].msg_hdr.msg_namelen = sizeof j->to[n];
    }
    j->iov[n] = (struct iovec){j->packets[n], header + SYN_BYTES};
    j->msgs[n].msg_hdr.msg_name = &j->to[n];
    j->msgs[n].msg_hdr.msg_iov = &j->iov[n];
    j->msgs[n].msg_hdr.msg_iovlen = 1;
    p->queued = 0;
    p->sent_ns = now;
    if (!armed) {
      p->in_job = 1;
      continue;
    }
    p->deadline_ns = now + p->timeout_ns;
    arm(s, p);
  }
}

// Sends what start queued: a batch to the sender thread whenever it is free, the others here.
static void send_queue(engine *e, syn_state *s, fam_state *f) {
  size_t done = 0;
  while (done < f->n_queue) {
    send_job *j = free_sender_job(e, s);
    int given = j != NULL;
    if (!given) j = &s->local;
    fill_job(s, f, j, &done, now_ns(), !given);
    if (j->n == 0) break;
    if (given) {
      sender *t = s->sender;
      pthread_mutex_lock(&t->mu);
      t->state = JOB_GIVEN;
      pthread_cond_signal(&t->cv);
      pthread_mutex_unlock(&t->mu);
    } else {
      send_job_now(j);
      collect_job(e, s, j);
    }
  }
  f->n_queue = 0;
}

// Every probe of (family, address, port) gets the answer: the same target asked twice at once is
// answered twice, by the one reply.
static void answer(engine *e, syn_state *s, int fam, const uint8_t *addr, uint16_t port, int32_t kind, int32_t detail, int64_t now) {
  size_t len = fam ? 16 : 4;
  probe **at = &s->by_key[key_bucket(fam, addr, port)];
  while (*at) {
    probe *p = *at;
    if (p->fam != fam || p->port != port || p->queued || memcmp(p->addr, addr, len) != 0) {
      at = &p->next_key;
      continue;
    }
    engine_complete(e, p->token, kind, detail, (int32_t)((now - p->sent_ns) / 1000));
    free_probe(s, p);  // unlinks *at: the loop goes on from the same place
  }
}

// A TCP segment from `remote` to `local`; `t` is its TCP header, `len` bytes.
static void on_segment(engine *e, syn_state *s, int fam, const uint8_t *remote, const uint8_t *local, const uint8_t *t, size_t len, int64_t now) {
  if (len < 20) return;
  fam_state *f = &s->fam[fam];
  uint16_t rport = (uint16_t)(t[0] << 8 | t[1]), lport = (uint16_t)(t[2] << 8 | t[3]);
  uint8_t flags = t[13];
  if (lport != f->sport) return;
  int syn = flags & 0x02, ack = flags & 0x10, rst = flags & 0x04;
  // A SYN without ACK is our own, looped back on lo; an RST without ACK answers no SYN of ours.
  if (!ack || !(syn || rst)) return;
  uint32_t acked = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 | (uint32_t)t[10] << 8 | t[11];
  if (acked - 1 != cookie(s, fam, remote, rport, local, lport)) return;
  answer(e, s, fam, remote, rport, rst ? K_CLOSED : K_OPEN, 0, now);
}

static void read_tcp4(engine *e, syn_state *s, const uint8_t *p, size_t len, int64_t now) {
  if (len < 20 || p[0] >> 4 != 4 || p[9] != IPPROTO_TCP) return;
  size_t ihl = (size_t)(p[0] & 0x0f) * 4;
  if (len < ihl + 20) return;
  uint8_t remote[16] = {0}, local[16] = {0};
  memcpy(remote, p + 12, 4);
  memcpy(local, p + 16, 4);
  on_segment(e, s, 0, remote, local, p + ihl, len - ihl, now);
}

// An ICMP destination-unreachable about one of our SYNs: RFC 792 and 4443 quote the original IP
// header and at least the first 8 bytes of the TCP header (ports and sequence number).
static void on_quote(engine *e, syn_state *s, int fam, const uint8_t *orig_src, const uint8_t *orig_dst, const uint8_t *t, int32_t detail, int64_t now) {
  fam_state *f = &s->fam[fam];
  uint16_t sport = (uint16_t)(t[0] << 8 | t[1]), dport = (uint16_t)(t[2] << 8 | t[3]);
  if (sport != f->sport) return;
  uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
  uint8_t remote[16] = {0}, local[16] = {0};
  memcpy(remote, orig_dst, fam ? 16 : 4);
  memcpy(local, orig_src, fam ? 16 : 4);
  if (seq != cookie(s, fam, remote, dport, local, sport)) return;
  answer(e, s, fam, remote, dport, K_ICMP_ERROR, detail, now);
}

static void read_icmp4(engine *e, syn_state *s, const uint8_t *p, size_t len, int64_t now) {
  if (len < 20 || p[0] >> 4 != 4) return;
  size_t ihl = (size_t)(p[0] & 0x0f) * 4;
  if (len < ihl + 8 + 20) return;
  const uint8_t *icmp = p + ihl, *orig = icmp + 8;
  if (icmp[0] != ICMP_DEST_UNREACH || orig[0] >> 4 != 4 || orig[9] != IPPROTO_TCP) return;
  size_t oihl = (size_t)(orig[0] & 0x0f) * 4;
  if (len < ihl + 8 + oihl + 8) return;
  on_quote(e, s, 0, orig + 12, orig + 16, orig + oihl, icmp[0] << 8 | icmp[1], now);
}

static void read_icmp6(engine *e, syn_state *s, const uint8_t *icmp, size_t len, int64_t now) {
  // We send no extension headers: the quoted TCP header follows the fixed 40-byte IPv6 header.
  if (len < 8 + 40 + 8 || icmp[0] != ICMP6_DST_UNREACH) return;
  const uint8_t *orig = icmp + 8;
  if (orig[0] >> 4 != 6 || orig[6] != IPPROTO_TCP) return;
  on_quote(e, s, 1, orig + 8, orig + 24, orig + 40, icmp[0] << 8 | icmp[1], now);
}

static void syn_event(engine *e, void *state, void *ptr, uint32_t events) {
  syn_state *s = state;
  if (s->sender != NULL && ptr == s->sender) {  // the sender's job went out: its errors are collected
    uint64_t count;
    if (read(s->sender->evfd, &count, sizeof count) < 0) { /* EAGAIN: already drained */ }
    free_sender_job(e, s);
    return;
  }
  int *fd = ptr;
  fam_state *f = fd == &s->fam[0].raw || fd == &s->fam[0].icmp ? &s->fam[0] : &s->fam[1];
  int fam = f == &s->fam[1], icmp = fd == &f->icmp;
  uint8_t buffers[BATCH][RECV_BYTES];
  struct sockaddr_in6 from[BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
  } control[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){buffers[i], RECV_BYTES};
      msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i], .msg_iov = &iov[i], .msg_iovlen = 1};
      if (fam && !icmp) msgs[i].msg_hdr.msg_control = control[i].buf, msgs[i].msg_hdr.msg_controllen = sizeof control[i].buf;
    }
    int n = recvmmsg(*fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break;  // EAGAIN: drained
    int64_t now = now_ns();
    for (int i = 0; i < n; i++) {
      size_t len = msgs[i].msg_len;
      if (!fam) {
        if (icmp) read_icmp4(e, s, buffers[i], len, now);
        else read_tcp4(e, s, buffers[i], len, now);
      } else if (icmp) {
        read_icmp6(e, s, buffers[i], len, now);
      } else {
        // IPv6 raw sockets give no header: the source comes with recvmsg, the destination (our
        // address, for the cookie) in IPV6_PKTINFO.
        struct in6_pktinfo *info = NULL;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
          if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) info = (struct in6_pktinfo *)CMSG_DATA(c);
        if (info) on_segment(e, s, 1, (const uint8_t *)&from[i].sin6_addr, (const uint8_t *)&info->ipi6_addr, buffers[i], len, now);
      }
    }
    if (n < BATCH) break;
  }
}

static void syn_flush(engine *e, void *state) {
  syn_state *s = state;
  // The answers are read when epoll says so, not straight after the send: measured, reading them
  // here split each round's answers in two and sent SYNs in smaller batches (harness 1.5 s vs 0.6 s).
  for (int i = 0; i < 2; i++)
    if (s->fam[i].n_queue) send_queue(e, s, &s->fam[i]);
}

static int64_t syn_expire(engine *e, void *state, int64_t now) {
  syn_state *s = state;
  while (timer_due(&s->heap, now)) {
    timer t = timer_pop(&s->heap);
    probe *p = find_token(s, (int32_t)t.key);
    if (p == NULL || p->queued || p->deadline_ns != t.deadline_ns) continue;  // answered or cancelled meanwhile
    engine_complete(e, p->token, K_TIMEOUT, 0, 0);
    free_probe(s, p);
  }
  return timer_next(&s->heap);
}

static void syn_cancel(engine *e, void *state, int32_t token) {
  syn_state *s = state;
  probe *p = find_token(s, token);
  if (p == NULL) return;
  unindex_probe(s, p);
  if (p->queued) p->token = 0;  // still in a send queue, out of the indexes: the flush frees it
  else free(p);
}

// JavaScript's wait for a try ran out with a shorter estimate than the try was sent with: it times
// out `timeout_ms` after it left (at once if that is past), never later than it would have.
static void syn_retime(engine *e, void *state, int32_t token, int32_t timeout_ms) {
  (void)e;
  syn_state *s = state;
  probe *p = find_token(s, token);
  if (p == NULL) return;  // answered: its completion is on its way to JavaScript
  int64_t timeout_ns = (int64_t)timeout_ms * 1000000;
  if (timeout_ns >= p->timeout_ns) return;
  p->timeout_ns = timeout_ns;
  if (p->queued || p->in_job) return;  // not sent yet: its deadline is set when it is
  p->deadline_ns = p->sent_ns + timeout_ns;
  arm(s, p);  // the old entry no longer matches: dropped when met
}

static void syn_destroy(engine *e, void *state) {
  syn_state *s = state;
  if (s->sender != NULL) stop_sender(s->sender);  // first: it may be sending from our sockets
  for (size_t b = 0; b < BUCKETS; b++) {
    for (probe *p = s->by_token[b], *next; p; p = next) {
      next = p->next_token;
      free(p);
    }
  }
  for (int i = 0; i < 2; i++) {
    fam_state *f = &s->fam[i];
    // Probes cancelled while queued have token 0 and were left out of the token index above.
    for (size_t q = 0; q < f->n_queue; q++)
      if (f->queue[q]->token == 0) free(f->queue[q]);
    free(f->queue);
    close_fam(f);
  }
  free(s->heap.at);
  free(s);
}

const backend syn_backend = {
    .name = "syn",
    .request_words = 8,
    .create = syn_create,
    .start = syn_start,
    .flush = syn_flush,
    .event = syn_event,
    .expire = syn_expire,
    .cancel = syn_cancel,
    .destroy = syn_destroy,
    .retime = syn_retime,
};
