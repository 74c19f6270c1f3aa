// A min-heap of deadlines for the backends that time their own tries (icmp.c, syn.c). `key` names
// the try in the backend's terms: an entry whose try was answered or retimed meanwhile stays until
// it comes up (or the backend rebuilds the heap), and the backend then finds its key stale.
#ifndef PMAP_HEAP_H
#define PMAP_HEAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct timer {
  int64_t deadline_ns;
  uint64_t key;
} timer;

typedef struct timer_heap {
  timer *at;
  size_t n, cap;
} timer_heap;

// Places `t` at position i or above it; positions below i must hold a heap already.
static inline void timer_sift_up(timer_heap *h, size_t i, timer t) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->at[parent].deadline_ns <= t.deadline_ns) break;
    h->at[i] = h->at[parent];
    i = parent;
  }
  h->at[i] = t;
}

static inline void timer_push(timer_heap *h, timer t) {
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 1024;
    h->at = realloc(h->at, h->cap * sizeof *h->at);
  }
  timer_sift_up(h, h->n++, t);
}

// The earliest entry, removed; the heap must not be empty.
static inline timer timer_pop(timer_heap *h) {
  timer top = h->at[0], last = h->at[--h->n];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->n) break;
    if (child + 1 < h->n && h->at[child + 1].deadline_ns < h->at[child].deadline_ns) child++;
    if (last.deadline_ns <= h->at[child].deadline_ns) break;
    h->at[i] = h->at[child];
    i = child;
  }
  if (h->n > 0) h->at[i] = last;
  return top;
}

// Whether the earliest deadline has come by `now`.
static inline int timer_due(const timer_heap *h, int64_t now) { return h->n > 0 && h->at[0].deadline_ns <= now; }

// The earliest deadline, or -1 for none.
static inline int64_t timer_next(const timer_heap *h) { return h->n > 0 ? h->at[0].deadline_ns : -1; }

#endif
