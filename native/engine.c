// The addon's N-API surface and the engine thread every backend runs on.
//
// JavaScript side (lib/native/addon.ts): open(kind, onBatch) -> handle; submit(handle, Int32Array);
// cancel(handle, Int32Array of tokens); retime(handle, Int32Array of token, timeout ms pairs);
// ref(handle, bool); close(handle). onBatch(Int32Array) gets
// completions, DONE_WORDS int32 each. Context-aware (NAPI_MODULE_INIT, no globals), so it loads in
// worker threads; an env cleanup hook stops the thread when a worker ends.
#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

// Batches waiting for JavaScript, at most; the thread blocks beyond (backpressure reaches the sockets).
#define QUEUE_BATCHES 8
#define MAX_EVENTS 256
// Completions handed over while a run of requests is still being started: JavaScript refills the
// window with the first ones while the thread works on the rest. Measured on a full-port loopback
// scan at -n 100: one batch per run left the main thread idle half the time (a ping-pong).
#define DELIVER_EVERY 32

typedef struct batch {
  int32_t *words;
  size_t n;
} batch;

int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void push_words(int32_t **v, size_t *n, size_t *cap, const int32_t *words, size_t count) {
  if (*n + count > *cap) {
    size_t want = *cap ? *cap : 1024;
    while (want < *n + count) want *= 2;
    *v = realloc(*v, want * sizeof **v);
    *cap = want;
  }
  memcpy(*v + *n, words, count * sizeof **v);
  *n += count;
}

void engine_complete(engine *e, int32_t token, int32_t kind, int32_t detail, int32_t rtt_us) {
  int32_t words[DONE_WORDS] = {token, kind, detail, rtt_us};
  push_words(&e->done, &e->n_done, &e->cap_done, words, DONE_WORDS);
}

int engine_watch(engine *e, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
}

// Hands the completions gathered so far to JavaScript; 0 once the function is closing.
static int deliver(engine *e) {
  if (e->n_done == 0) return 1;
  batch *b = malloc(sizeof *b);
  b->words = e->done;
  b->n = e->n_done;
  e->done = NULL;
  e->n_done = e->cap_done = 0;
  if (napi_call_threadsafe_function(e->tsfn, b, napi_tsfn_blocking) != napi_ok) {
    free(b->words);
    free(b);
    return 0;
  }
  return 1;
}

// Waits up to timeout_ms (-1: no limit) and hands what is ready to the backend. Returns 1 when
// JavaScript woke the thread (new requests, cancels or retimes are queued).
static int poll_events(engine *e, struct epoll_event *events, int timeout_ms) {
  int n = epoll_wait(e->epfd, events, MAX_EVENTS, timeout_ms), woken = 0;
  for (int i = 0; i < n; i++) {
    if (events[i].data.ptr == e) {
      uint64_t count;
      if (read(e->evfd, &count, sizeof count) < 0) { /* EAGAIN: already drained */ }
      woken = 1;
      continue;
    }
    e->be->event(e, e->state, events[i].data.ptr, events[i].events);
  }
  if (e->be->flush) e->be->flush(e, e->state);
  return woken;
}

static void *thread_main(void *arg) {
  engine *e = arg;
  struct epoll_event events[MAX_EVENTS];
  int32_t *requests = NULL, *cancels = NULL, *retimes = NULL;
  size_t n_requests = 0, cap_requests = 0, n_cancels = 0, cap_cancels = 0, n_retimes = 0, cap_retimes = 0;
  int64_t deadline = -1;
  for (;;) {
    pthread_mutex_lock(&e->mu);
    int stopping = e->stopping;
    // Swap the queues out, so JavaScript never waits on the thread's work.
    int32_t *t = requests; requests = e->requests; e->requests = t;
    size_t c = cap_requests; cap_requests = e->cap_requests; e->cap_requests = c;
    n_requests = e->n_requests; e->n_requests = 0;
    t = cancels; cancels = e->cancels; e->cancels = t;
    c = cap_cancels; cap_cancels = e->cap_cancels; e->cap_cancels = c;
    n_cancels = e->n_cancels; e->n_cancels = 0;
    t = retimes; retimes = e->retimes; e->retimes = t;
    c = cap_retimes; cap_retimes = e->cap_retimes; e->cap_retimes = c;
    n_retimes = e->n_retimes; e->n_retimes = 0;
    pthread_mutex_unlock(&e->mu);
    if (stopping) break;

    size_t w = (size_t)e->be->request_words;
    int alive = 1;
    for (size_t i = 0; alive && i + w <= n_requests; i += w) {
      e->be->start(e, e->state, requests + i);
      if (e->n_done >= DELIVER_EVERY * DONE_WORDS) alive = deliver(e);
    }
    if (!alive) break;
    if (n_requests && e->be->flush) e->be->flush(e, e->state);
    for (size_t i = 0; i < n_cancels; i++) e->be->cancel(e, e->state, cancels[i]);
    if (e->be->retime)
      for (size_t i = 0; i + 2 <= n_retimes; i += 2) e->be->retime(e, e->state, retimes[i], retimes[i + 1]);
    // Read what has arrived before judging any deadline: a thread that was held up (handing a full
    // queue to JavaScript, or not scheduled on a loaded machine) must not time out tries whose
    // answers wait in its sockets (measured: whole sendmmsg batches of 256 echoes were lost so).
    int woken = poll_events(e, events, 0);
    deadline = e->be->expire(e, e->state, now_ns());
    if (!deliver(e)) break;

    // A wake-up read just now must not be slept through: its queue is taken at once.
    int timeout = woken ? 0 : -1;
    if (deadline >= 0 && !woken) {
      int64_t wait = deadline - now_ns();
      timeout = wait <= 0 ? 0 : (int)((wait + 999999) / 1000000);
    }
    // Say we sleep, unless JavaScript queued something meanwhile: only then does it write the
    // eventfd (measured: a wake-up per microtask's batch cost more than the batches themselves).
    pthread_mutex_lock(&e->mu);
    if (e->n_requests || e->n_cancels || e->n_retimes || e->stopping) timeout = 0;
    e->sleeping = timeout != 0;
    pthread_mutex_unlock(&e->mu);
    poll_events(e, events, timeout);
    pthread_mutex_lock(&e->mu);
    e->sleeping = 0;
    pthread_mutex_unlock(&e->mu);
    e->be->expire(e, e->state, now_ns());
    if (!deliver(e)) break;
  }
  free(requests);
  free(cancels);
  free(retimes);
  return NULL;
}

static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  batch *b = data;
  if (env != NULL && callback != NULL) {
    napi_value buffer, array, undefined;
    void *bytes;
    if (napi_create_arraybuffer(env, b->n * sizeof(int32_t), &bytes, &buffer) == napi_ok) {
      memcpy(bytes, b->words, b->n * sizeof(int32_t));
      napi_create_typedarray(env, napi_int32_array, b->n, buffer, 0, &array);
      napi_get_undefined(env, &undefined);
      napi_call_function(env, undefined, callback, 1, &array, NULL);
    }
  }
  free(b->words);
  free(b);
}

static void wake(engine *e) {
  uint64_t one = 1;
  if (write(e->evfd, &one, sizeof one) < 0) { /* EAGAIN: a wake-up is already pending */ }
}

static void engine_close(engine *e) {
  if (e->closed) return;
  e->closed = 1;
  pthread_mutex_lock(&e->mu);
  e->stopping = 1;
  pthread_mutex_unlock(&e->mu);
  wake(e);
  // Abort first: a thread blocked on a full queue returns napi_closing instead of waiting for a
  // JavaScript thread that is about to wait for it (join).
  napi_release_threadsafe_function(e->tsfn, napi_tsfn_abort);
  pthread_join(e->thread, NULL);
  e->be->destroy(e, e->state);
  close(e->epfd);
  close(e->evfd);
  free(e->requests);
  free(e->cancels);
  free(e->retimes);
  free(e->done);
  e->requests = e->cancels = e->retimes = e->done = NULL;
}

static void cleanup_hook(void *arg) { engine_close(arg); }

static void finalize_engine(napi_env env, void *data, void *hint) {
  (void)hint;
  engine *e = data;
  if (!e->closed) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, e);
    engine_close(e);
  }
  pthread_mutex_destroy(&e->mu);
  free(e);
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  // strerror alone, as node's raw-socket addon words it: "Operation not permitted".
  (void)what;
  const char *message = strerror(err);
  napi_value code, msg, error;
  const char *name = err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == EMFILE ? "EMFILE" : "ENATIVE";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_value errno_value;
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_throw(env, error);
  return NULL;
}

static engine *unwrap(napi_env env, napi_value value) {
  engine *e = NULL;
  if (napi_get_value_external(env, value, (void **)&e) != napi_ok || e == NULL) {
    napi_throw_type_error(env, NULL, "not an engine handle");
    return NULL;
  }
  return e;
}

static int typed_words(napi_env env, napi_value value, int32_t **words, size_t *n) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void *data;
  if (napi_get_typedarray_info(env, value, &type, n, &data, &buffer, &offset) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "expected an Int32Array");
    return 0;
  }
  *words = data;
  return 1;
}

// open(kind: "tcp" | "icmp", onBatch) -> handle
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char kind[16] = {0};
  size_t len;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], kind, sizeof kind, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(kind, onBatch)");
    return NULL;
  }
  const backend *be = strcmp(kind, "tcp") == 0 ? &tcp_backend : strcmp(kind, "icmp") == 0 ? &icmp_backend : NULL;
  if (be == NULL && strcmp(kind, "syn") == 0) be = &syn_backend;
  if (be == NULL) {
    napi_throw_type_error(env, NULL, "kind must be tcp or icmp");
    return NULL;
  }
  engine *e = calloc(1, sizeof *e);
  e->be = be;
  e->env = env;
  pthread_mutex_init(&e->mu, NULL);
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  e->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  int err = 0;
  if (e->epfd < 0 || e->evfd < 0) err = errno;
  if (!err && engine_watch(e, e->evfd, EPOLLIN, e) != 0) err = errno;
  if (!err) e->state = be->create(e, &err);
  if (err || e->state == NULL) {
    if (e->epfd >= 0) close(e->epfd);
    if (e->evfd >= 0) close(e->evfd);
    pthread_mutex_destroy(&e->mu);
    free(e);
    return throw_errno(env, be->name, err ? err : ENOMEM);
  }
  napi_value name;
  napi_create_string_utf8(env, be->name, NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, argv[1], NULL, name, QUEUE_BATCHES, 1, NULL, NULL, NULL, call_js, &e->tsfn);
  // Not keeping the process alive until JavaScript has probes in flight (ref).
  napi_unref_threadsafe_function(env, e->tsfn);
  if ((err = pthread_create(&e->thread, NULL, thread_main, e)) != 0) {
    napi_release_threadsafe_function(e->tsfn, napi_tsfn_abort);
    be->destroy(e, e->state);
    close(e->epfd);
    close(e->evfd);
    pthread_mutex_destroy(&e->mu);
    free(e);
    return throw_errno(env, "pthread_create", err);
  }
  napi_add_env_cleanup_hook(env, cleanup_hook, e);
  napi_value handle;
  napi_create_external(env, e, finalize_engine, NULL, &handle);
  return handle;
}

enum { Q_REQUESTS, Q_CANCELS, Q_RETIMES };

static napi_value queue_words(napi_env env, napi_callback_info info, int queue) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine *e = argc == 2 ? unwrap(env, argv[0]) : NULL;
  int32_t *words;
  size_t n;
  if (e == NULL || !typed_words(env, argv[1], &words, &n)) return NULL;
  if (e->closed || n == 0) return NULL;
  pthread_mutex_lock(&e->mu);
  if (queue == Q_CANCELS) push_words(&e->cancels, &e->n_cancels, &e->cap_cancels, words, n);
  else if (queue == Q_RETIMES) push_words(&e->retimes, &e->n_retimes, &e->cap_retimes, words, n - n % 2);
  else push_words(&e->requests, &e->n_requests, &e->cap_requests, words, n - n % (size_t)e->be->request_words);
  int sleeping = e->sleeping;
  e->sleeping = 0;
  pthread_mutex_unlock(&e->mu);
  if (sleeping) wake(e);
  return NULL;
}

static napi_value js_submit(napi_env env, napi_callback_info info) { return queue_words(env, info, Q_REQUESTS); }
static napi_value js_cancel(napi_env env, napi_callback_info info) { return queue_words(env, info, Q_CANCELS); }
static napi_value js_retime(napi_env env, napi_callback_info info) { return queue_words(env, info, Q_RETIMES); }

static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine *e = argc == 2 ? unwrap(env, argv[0]) : NULL;
  bool on = false;
  if (e == NULL || e->closed) return NULL;
  napi_get_value_bool(env, argv[1], &on);
  if (on) napi_ref_threadsafe_function(env, e->tsfn);
  else napi_unref_threadsafe_function(env, e->tsfn);
  return NULL;
}

// strerror(3): the words the raw-socket engine's errors carry ("No route to host").
static napi_value js_strerror(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], text;
  int32_t err = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc == 1) napi_get_value_int32(env, argv[0], &err);
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &text);
  return text;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine *e = argc == 1 ? unwrap(env, argv[0]) : NULL;
  if (e == NULL || e->closed) return NULL;
  napi_remove_env_cleanup_hook(env, cleanup_hook, e);
  engine_close(e);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"submit", NULL, js_submit, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_enumerable, NULL},
      {"retime", NULL, js_retime, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"strerror", NULL, js_strerror, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchReader", NULL, js_watch_reader, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}
