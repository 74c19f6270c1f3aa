// The shared part of every backend: a thread with an epoll loop, a request queue JavaScript fills
// (under a mutex, woken by an eventfd), and completions handed back in batches through a
// thread-safe function whose bounded queue blocks the thread when JavaScript falls behind.
#ifndef PMAP_ENGINE_H
#define PMAP_ENGINE_H

#include <node_api.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

// Completion kinds, four int32 per completion: token, kind, errno (or a detail), rtt in µs.
enum { K_OPEN = 0, K_CLOSED = 1, K_TIMEOUT = 2, K_ERROR = 3, K_SELF = 4, K_REPLY = 5, K_ICMP_ERROR = 6 };
#define DONE_WORDS 4

typedef struct engine engine;

typedef struct backend {
  const char *name;
  int request_words;                                             // int32 words per request
  void *(*create)(engine *e, int *err);                          // NULL and *err on failure
  void (*start)(engine *e, void *state, const int32_t *request); // one request, on the thread
  void (*flush)(engine *e, void *state);                         // after a run of starts (may be NULL)
  void (*event)(engine *e, void *state, void *ptr, uint32_t events);
  int64_t (*expire)(engine *e, void *state, int64_t now_ns);     // next deadline (ns) or -1
  void (*cancel)(engine *e, void *state, int32_t token);
  void (*destroy)(engine *e, void *state);
  // JavaScript's wait for a try ran out: time it out if it has been out timeout_ms on this clock,
  // else at that time (the try's verdict is the thread's, whatever the hop). May be NULL.
  void (*retime)(engine *e, void *state, int32_t token, int32_t timeout_ms);
} backend;

struct engine {
  const backend *be;
  void *state;
  int epfd, evfd;
  pthread_t thread;
  pthread_mutex_t mu;
  int32_t *requests; size_t n_requests, cap_requests;  // under mu
  int32_t *cancels; size_t n_cancels, cap_cancels;     // under mu
  int32_t *retimes; size_t n_retimes, cap_retimes;     // under mu: token, timeout ms
  int stopping;                                        // under mu
  int sleeping;                                        // under mu: the thread waits in epoll for JavaScript
  napi_threadsafe_function tsfn;
  int32_t *done; size_t n_done, cap_done;              // the thread's only
  int closed;
  napi_env env;
};

int64_t now_ns(void);
void engine_complete(engine *e, int32_t token, int32_t kind, int32_t detail, int32_t rtt_us);
int engine_watch(engine *e, int fd, uint32_t events, void *ptr);

extern const backend tcp_backend;
extern const backend icmp_backend;
extern const backend syn_backend;  // native/syn.c

napi_value js_watch_reader(napi_env env, napi_callback_info info);  // native/pipe-watch.c

#endif
