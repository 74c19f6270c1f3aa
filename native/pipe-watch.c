// watchReader(fd, callback): calls back once when nobody will ever read what is written to fd (a
// pipe whose readers all closed, a socket whose peer is gone).
//
// Why: a writer learns that its pipe's reader is gone only at its next write (EPIPE). tcpprobe
// writes only open ports and pmap writes a host's rows when the host is done, so `pmap … | head -1`
// went on scanning until its next write (issue 10 item 21). The kernel says it earlier: poll(2)
// reports POLLERR on a pipe's write end once its last reader closes, and POLLHUP on a socket whose
// peer closed. Node has no way to poll a write end for that (libuv watches it only while a write
// is pending), so a thread of ours polls a dup of the descriptor and hands the news to JavaScript
// through an unreferenced thread-safe function: the watch never keeps a process alive.
#define _GNU_SOURCE
#include <node_api.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine.h"

typedef struct watch {
  int fd;    // our dup of the watched descriptor
  int stop;  // eventfd: the cleanup hook wakes the thread to end it
  pthread_t thread;
  napi_threadsafe_function tsfn;
} watch;

static void *watch_main(void *arg) {
  watch *w = arg;
  // events 0: POLLERR and POLLHUP are reported whether asked for or not, and nothing else is.
  struct pollfd fds[2] = {{.fd = w->fd, .events = 0}, {.fd = w->stop, .events = POLLIN}};
  for (;;) {
    int n = poll(fds, 2, -1);
    if (n < 0) continue;  // EINTR
    if (fds[1].revents) break;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      napi_call_threadsafe_function(w->tsfn, NULL, napi_tsfn_nonblocking);
      break;
    }
  }
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
  return NULL;
}

static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  (void)data;
  if (env == NULL || callback == NULL) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, callback, 0, NULL, NULL);
}

static void cleanup(void *arg) {
  watch *w = arg;
  uint64_t one = 1;
  if (write(w->stop, &one, sizeof one) < 0) { /* the thread has already ended */ }
  pthread_join(w->thread, NULL);
  close(w->fd);
  close(w->stop);
  free(w);
}

napi_value js_watch_reader(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name, result;
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "watchReader(fd, callback)");
    return NULL;
  }
  watch *w = calloc(1, sizeof *w);
  // Close-on-exec: pmap's -m proc children must not inherit a second copy.
  w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  w->stop = eventfd(0, EFD_CLOEXEC);
  napi_get_boolean(env, 0, &result);
  if (w->fd < 0 || w->stop < 0) {
    if (w->fd >= 0) close(w->fd);
    if (w->stop >= 0) close(w->stop);
    free(w);
    return result;  // no watch: the next write still finds out
  }
  napi_create_string_utf8(env, "pmap-pipe-watch", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, argv[1], NULL, name, 1, 1, NULL, NULL, NULL, call_js, &w->tsfn);
  napi_unref_threadsafe_function(env, w->tsfn);
  if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    close(w->fd);
    close(w->stop);
    free(w);
    return result;
  }
  napi_add_env_cleanup_hook(env, cleanup, w);
  napi_get_boolean(env, 1, &result);
  return result;
}
