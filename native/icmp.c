// ICMP echo backend: one raw socket per family on the engine thread, echoes sent in batches with
// sendmmsg(2) and read with recvmmsg(2), replies and ICMP errors matched to requests in C by
// identifier, sequence and address, so JavaScript only sees one completion per echo: a reply (rtt,
// ttl), an ICMP error (type and code), a timeout, or a send errno. ICMP_FILTER / ICMP6_FILTER keep
// everyone else's ICMP (and our own requests looped back on lo) in the kernel (raw(7), RFC 3542 3.2).
#define _GNU_SOURCE
#include "engine.h"
#include "heap.h"

#include <errno.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEQS 65536
#define BATCH 256
#ifndef SEND_EARLY
#define SEND_EARLY 64
#endif
#define PACKET 16  // 8-byte ICMP header + 8 bytes of payload
#define RECV_BYTES 512
#define SEND_BUFFER (8 * 1024 * 1024)

typedef struct slot {
  int32_t token;  // 0: free
  uint32_t generation;
  uint8_t addr[16];
  int64_t sent_ns;
} slot;

// A timer's key: the slot's generation, its sequence number and family (a reused slot's old timer
// finds a newer generation there).
static timer echo_timer(int64_t deadline_ns, uint32_t generation, uint16_t seq, int fam) {
  return (timer){deadline_ns, (uint64_t)generation << 24 | (uint64_t)seq << 8 | (uint64_t)fam};
}

typedef struct outgoing {
  uint16_t seq;
  int64_t timeout_ns;
} outgoing;

typedef struct fam_state {
  int fd;
  int family;
  slot *slots;
  uint16_t next_seq;
  int in_flight;
  outgoing *queue;  // built by start, sent by flush
  size_t n_queue, cap_queue;
} fam_state;

typedef struct icmp_state {
  fam_state fam[2];
  uint16_t identifier;
  uint32_t generation;
  timer_heap heap;
  int64_t retry_ns;  // a full send buffer: try the queue again at this time
} icmp_state;

static int open_raw(int family) {
  int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
  if (fd < 0) return -1;
  int size = SEND_BUFFER;
  // socket(7): SO_*BUFFORCE lifts wmem_max/rmem_max for a privileged process; plain SO_*BUF otherwise.
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (family == AF_INET) {
    struct icmp_filter filter = {~((1u << ICMP_ECHOREPLY) | (1u << ICMP_DEST_UNREACH) | (1u << ICMP_TIME_EXCEEDED))};
    setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter);
  } else {
    struct icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &filter);
    ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &filter);
    setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
  }
  return fd;
}

static void *icmp_create(engine *e, int *err) {
  icmp_state *s = calloc(1, sizeof *s);
  if (getrandom(&s->identifier, sizeof s->identifier, 0) != sizeof s->identifier) s->identifier = (uint16_t)getpid();
  for (int i = 0; i < 2; i++) {
    fam_state *f = &s->fam[i];
    f->family = i == 0 ? AF_INET : AF_INET6;
    f->fd = open_raw(f->family);
    // Without CAP_NET_RAW IPv4 fails with EPERM: the whole backend is unavailable. A machine
    // without IPv6 still pings IPv4.
    if (f->fd < 0 && i == 0) {
      *err = errno;
      free(s);
      return NULL;
    }
    if (f->fd >= 0) {
      f->slots = calloc(SEQS, sizeof *f->slots);
      engine_watch(e, f->fd, EPOLLIN, f);
    }
  }
  *err = 0;
  return s;
}

static void send_queue(engine *e, icmp_state *s, fam_state *f);
static void receive(engine *e, icmp_state *s, fam_state *f);

static void icmp_start(engine *e, void *state, const int32_t *req) {
  icmp_state *s = state;
  fam_state *f = &s->fam[req[2] == 6 ? 1 : 0];
  if (req[2] != 4 && req[2] != 6) return;
  if (f->fd < 0) {
    engine_complete(e, req[0], K_ERROR, EAFNOSUPPORT, 0);
    return;
  }
  if (f->in_flight >= SEQS - 1) {
    engine_complete(e, req[0], K_ERROR, EAGAIN, 0);
    return;
  }
  // A sequence number no echo in flight holds (a late reply to a reused one must still come from
  // the right address to count): the token's low bits when free, so retime finds it at once.
  if (f->slots[(uint16_t)req[0]].token == 0) f->next_seq = (uint16_t)req[0];
  while (f->slots[f->next_seq].token != 0) f->next_seq++;
  uint16_t seq = f->next_seq++;
  slot *sl = &f->slots[seq];
  sl->token = req[0];
  sl->generation = ++s->generation;
  memcpy(sl->addr, &req[4], 16);
  f->in_flight++;
  if (f->n_queue == f->cap_queue) {
    f->cap_queue = f->cap_queue ? f->cap_queue * 2 : 1024;
    f->queue = realloc(f->queue, f->cap_queue * sizeof *f->queue);
  }
  f->queue[f->n_queue++] = (outgoing){seq, (int64_t)req[3] * 1000000};
  // A long run of requests goes out SEND_EARLY at a time, each followed by a read of the replies
  // already waiting, so the engine hands the first completions to JavaScript (DELIVER_EVERY) while
  // this thread works on the rest of the run. Measured on a 65536-host loopback sweep at -n 1000:
  // sending the whole run at flush gave one batch of ~1000 per round, the main thread and this one
  // taking turns (about 70 batches in all).
  if (f->n_queue >= SEND_EARLY && (s->retry_ns == 0 || now_ns() >= s->retry_ns)) {
    s->retry_ns = 0;
    send_queue(e, s, f);
    receive(e, s, f);
  }
}

static uint16_t checksum(const uint8_t *data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(data[i] << 8 | data[i + 1]);
  if (len & 1) sum += (uint32_t)data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void free_slot(fam_state *f, uint16_t seq) {
  f->slots[seq].token = 0;
  f->in_flight--;
}

// Sends what start queued, BATCH echoes a syscall. A full send buffer (EAGAIN/ENOBUFS) keeps the
// rest queued for a millisecond later; any other errno is that echo's answer (EPERM: a firewall).
static void send_queue(engine *e, icmp_state *s, fam_state *f) {
  static const uint8_t payload[8] = "pmap-nv";
  uint8_t packets[BATCH][PACKET];
  struct sockaddr_in6 to[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  size_t done = 0;
  while (done < f->n_queue) {
    size_t n = f->n_queue - done < BATCH ? f->n_queue - done : BATCH;
    memset(msgs, 0, n * sizeof *msgs);
    for (size_t i = 0; i < n; i++) {
      uint16_t seq = f->queue[done + i].seq;
      uint8_t *p = packets[i];
      p[0] = f->family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
      p[1] = 0;
      p[2] = p[3] = 0;
      p[4] = s->identifier >> 8;
      p[5] = s->identifier & 0xff;
      p[6] = seq >> 8;
      p[7] = seq & 0xff;
      memcpy(p + 8, payload, 8);
      // ICMPv6 checksums cover a pseudo-header: the kernel fills them in on raw ICMPv6 sockets.
      if (f->family == AF_INET) {
        uint16_t sum = checksum(p, PACKET);
        p[2] = sum >> 8;
        p[3] = sum & 0xff;
      }
      memset(&to[i], 0, sizeof to[i]);
      if (f->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&to[i];
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, f->slots[seq].addr, 4);
        msgs[i].msg_hdr.msg_namelen = sizeof *a;
      } else {
        to[i].sin6_family = AF_INET6;
        memcpy(&to[i].sin6_addr, f->slots[seq].addr, 16);
        msgs[i].msg_hdr.msg_namelen = sizeof to[i];
      }
      iov[i] = (struct iovec){p, PACKET};
      msgs[i].msg_hdr.msg_name = &to[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int64_t now = now_ns();
    int sent = sendmmsg(f->fd, msgs, (unsigned)n, 0);
    if (sent < 0) {
      if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
        s->retry_ns = now + 1000000;
        break;
      }
      // sendmmsg reports the first message's error: that echo gets it, the rest go on.
      outgoing o = f->queue[done++];
      engine_complete(e, f->slots[o.seq].token, K_ERROR, errno, 0);
      free_slot(f, o.seq);
      continue;
    }
    for (int i = 0; i < sent; i++) {
      outgoing o = f->queue[done + (size_t)i];
      slot *sl = &f->slots[o.seq];
      sl->sent_ns = now;
      timer_push(&s->heap, echo_timer(now + o.timeout_ns, sl->generation, o.seq, f == &s->fam[1]));
    }
    done += (size_t)sent;
  }
  memmove(f->queue, f->queue + done, (f->n_queue - done) * sizeof *f->queue);
  f->n_queue -= done;
}

static void icmp_flush(engine *e, void *state) {
  icmp_state *s = state;
  if (s->retry_ns && now_ns() < s->retry_ns) return;
  s->retry_ns = 0;
  for (int i = 0; i < 2; i++)
    if (s->fam[i].n_queue) send_queue(e, s, &s->fam[i]);
}

static void match(engine *e, fam_state *f, icmp_state *s, uint16_t id, uint16_t seq, const uint8_t *addr, int32_t kind, int32_t detail, int64_t now) {
  if (id != s->identifier) return;
  slot *sl = &f->slots[seq];
  size_t len = f->family == AF_INET ? 4 : 16;
  if (sl->token == 0 || sl->sent_ns == 0 || memcmp(sl->addr, addr, len) != 0) return;
  engine_complete(e, sl->token, kind, detail, (int32_t)((now - sl->sent_ns) / 1000));
  sl->sent_ns = 0;
  free_slot(f, seq);
}

static void parse_v4(engine *e, icmp_state *s, fam_state *f, const uint8_t *p, size_t len, const struct sockaddr_in *from, int64_t now) {
  // raw(7): IPv4 raw sockets deliver the IP header too.
  if (len < 20 || p[0] >> 4 != 4) return;
  size_t ihl = (size_t)(p[0] & 0x0f) * 4;
  if (len < ihl + 8) return;
  const uint8_t *icmp = p + ihl;
  uint16_t id = (uint16_t)(icmp[4] << 8 | icmp[5]), seq = (uint16_t)(icmp[6] << 8 | icmp[7]);
  if (icmp[0] == ICMP_ECHOREPLY) return match(e, f, s, id, seq, (const uint8_t *)&from->sin_addr, K_REPLY, p[8], now);
  if (icmp[0] != ICMP_DEST_UNREACH && icmp[0] != ICMP_TIME_EXCEEDED) return;
  // RFC 792: an error quotes the original IP header and the first 8 bytes of its data, our echo header.
  const uint8_t *orig = icmp + 8;
  if (len < ihl + 8 + 20 || orig[0] >> 4 != 4 || orig[9] != IPPROTO_ICMP) return;
  size_t oihl = (size_t)(orig[0] & 0x0f) * 4;
  if (len < ihl + 8 + oihl + 8) return;
  const uint8_t *echo = orig + oihl;
  if (echo[0] != ICMP_ECHO) return;
  match(e, f, s, (uint16_t)(echo[4] << 8 | echo[5]), (uint16_t)(echo[6] << 8 | echo[7]), orig + 16, K_ICMP_ERROR, icmp[0] << 8 | icmp[1], now);
}

static void parse_v6(engine *e, icmp_state *s, fam_state *f, const uint8_t *icmp, size_t len, const struct sockaddr_in6 *from, int64_t now) {
  // RFC 3542 3: raw ICMPv6 sockets deliver the ICMPv6 message alone, so no hop limit (-1).
  if (len < 8) return;
  if (icmp[0] == ICMP6_ECHO_REPLY)
    return match(e, f, s, (uint16_t)(icmp[4] << 8 | icmp[5]), (uint16_t)(icmp[6] << 8 | icmp[7]), (const uint8_t *)&from->sin6_addr, K_REPLY, -1, now);
  if (icmp[0] != ICMP6_DST_UNREACH && icmp[0] != ICMP6_TIME_EXCEEDED) return;
  // We send no extension headers: the quoted echo follows the fixed 40-byte IPv6 header.
  const uint8_t *orig = icmp + 8;
  if (len < 8 + 40 + 8 || orig[0] >> 4 != 6 || orig[6] != IPPROTO_ICMPV6) return;
  const uint8_t *echo = orig + 40;
  if (echo[0] != ICMP6_ECHO_REQUEST) return;
  match(e, f, s, (uint16_t)(echo[4] << 8 | echo[5]), (uint16_t)(echo[6] << 8 | echo[7]), orig + 24, K_ICMP_ERROR, icmp[0] << 8 | icmp[1], now);
}

// Reads every packet waiting on the socket (recvmmsg, BATCH a call) and completes what they answer.
static void receive(engine *e, icmp_state *s, fam_state *f) {
  uint8_t buffers[BATCH][RECV_BYTES];
  struct sockaddr_in6 from[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){buffers[i], RECV_BYTES};
      msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i], .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(f->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break;  // EAGAIN: drained
    int64_t now = now_ns();
    for (int i = 0; i < n; i++) {
      if (f->family == AF_INET) parse_v4(e, s, f, buffers[i], msgs[i].msg_len, (struct sockaddr_in *)&from[i], now);
      else parse_v6(e, s, f, buffers[i], msgs[i].msg_len, &from[i], now);
    }
    if (n < BATCH) break;
  }
}

static void icmp_event(engine *e, void *state, void *ptr, uint32_t events) {
  (void)events;
  receive(e, state, ptr);
}

static int64_t icmp_expire(engine *e, void *state, int64_t now) {
  icmp_state *s = state;
  while (timer_due(&s->heap, now)) {
    uint64_t key = timer_pop(&s->heap).key;
    fam_state *f = &s->fam[key & 0xff];
    uint16_t seq = (uint16_t)(key >> 8);
    slot *sl = &f->slots[seq];
    if (sl->token == 0 || sl->generation != (uint32_t)(key >> 24)) continue;  // answered meanwhile
    engine_complete(e, sl->token, K_TIMEOUT, 0, 0);
    sl->sent_ns = 0;
    free_slot(f, seq);
  }
  int64_t next = timer_next(&s->heap);
  if (s->retry_ns && (next < 0 || s->retry_ns < next)) next = s->retry_ns;
  return next;
}

// The slot of an echo in flight, found by its token: mostly at the token's low bits (icmp_start).
static slot *find_token(icmp_state *s, int32_t token, fam_state **fam, uint16_t *seq) {
  for (int i = 0; i < 2; i++) {
    fam_state *f = &s->fam[i];
    if (f->fd < 0 || f->in_flight == 0) continue;
    uint16_t guess = (uint16_t)token;
    if (f->slots[guess].token == token) return *fam = f, *seq = guess, &f->slots[guess];
  }
  for (int i = 0; i < 2; i++) {
    fam_state *f = &s->fam[i];
    if (f->fd < 0 || f->in_flight == 0) continue;
    for (uint32_t q = 0; q < SEQS; q++)
      if (f->slots[q].token == token) return *fam = f, *seq = (uint16_t)q, &f->slots[q];
  }
  return NULL;
}

static void icmp_retime(engine *e, void *state, int32_t token, int32_t timeout_ms) {
  icmp_state *s = state;
  fam_state *f;
  uint16_t seq;
  slot *sl = find_token(s, token, &f, &seq);
  if (sl == NULL) return;  // answered already: its completion is on its way to JavaScript
  int64_t timeout_ns = (int64_t)timeout_ms * 1000000;
  if (sl->sent_ns == 0) {
    // Still queued behind a full send buffer: it gets the shorter wait once it leaves.
    for (size_t i = 0; i < f->n_queue; i++)
      if (f->queue[i].seq == seq && timeout_ns < f->queue[i].timeout_ns) f->queue[i].timeout_ns = timeout_ns;
    return;
  }
  // A second timer for the same echo: whichever comes first times it out, the other finds it gone.
  timer_push(&s->heap, echo_timer(sl->sent_ns + timeout_ns, sl->generation, seq, f == &s->fam[1]));
}

// A cancelled echo costs nothing but its sequence number until it times out: JavaScript drops the
// completion. Nothing to do here.
static void icmp_cancel(engine *e, void *state, int32_t token) {}

static void icmp_destroy(engine *e, void *state) {
  icmp_state *s = state;
  for (int i = 0; i < 2; i++) {
    if (s->fam[i].fd >= 0) close(s->fam[i].fd);
    free(s->fam[i].slots);
    free(s->fam[i].queue);
  }
  free(s->heap.at);
  free(s);
}

const backend icmp_backend = {
    .name = "icmp",
    .request_words = 8,
    .create = icmp_create,
    .start = icmp_start,
    .flush = icmp_flush,
    .event = icmp_event,
    .expire = icmp_expire,
    .cancel = icmp_cancel,
    .destroy = icmp_destroy,
    .retime = icmp_retime,
};
