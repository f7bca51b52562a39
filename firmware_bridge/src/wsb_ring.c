#include "wsb_ring.h"

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#else
#ifndef WSB_RING_FENCE
#define WSB_RING_FENCE() ((void)0)
#endif
static uint32_t load_acq(const volatile uint32_t *p)
{
    uint32_t v = *p;
    WSB_RING_FENCE();
    return v;
}
static void store_rel(volatile uint32_t *p, uint32_t v)
{
    WSB_RING_FENCE();
    *p = v;
}
#define LOAD_ACQ(p) load_acq(p)
#define STORE_REL(p, v) store_rel((p), (v))
#endif

int wsb_ring_init(wsb_ring_t *r, uint8_t *storage, uint32_t capacity)
{
    if (storage == NULL || capacity < 2u || (capacity & (capacity - 1u)) != 0u) {
        return -1;
    }
    r->buf = storage;
    r->mask = capacity - 1u;
    r->head = 0;
    r->tail = 0;
    r->overruns = 0;
    return 0;
}

uint32_t wsb_ring_capacity(const wsb_ring_t *r)
{
    return r->mask + 1u;
}

uint32_t wsb_ring_used(const wsb_ring_t *r)
{
    uint32_t head = LOAD_ACQ(&r->head);
    uint32_t tail = LOAD_ACQ(&r->tail);
    return head - tail;
}

uint32_t wsb_ring_free(const wsb_ring_t *r)
{
    return wsb_ring_capacity(r) - wsb_ring_used(r);
}

uint32_t wsb_ring_write(wsb_ring_t *r, const uint8_t *data, uint32_t len)
{
    uint32_t head = r->head; /* only this side writes head */
    uint32_t tail = LOAD_ACQ(&r->tail);
    uint32_t cap = r->mask + 1u;
    uint32_t at;
    uint32_t first;

    if (len == 0) {
        return 0;
    }
    if (len > cap - (head - tail)) {
        r->overruns++;
        return 0;
    }
    at = head & r->mask;
    first = cap - at;
    if (first > len) {
        first = len;
    }
    memcpy(r->buf + at, data, first);
    memcpy(r->buf, data + first, len - first);
    STORE_REL(&r->head, head + len);
    return len;
}

uint32_t wsb_ring_peek(const wsb_ring_t *r, uint8_t *out, uint32_t cap)
{
    uint32_t tail = r->tail; /* only this side writes tail */
    uint32_t head = LOAD_ACQ(&r->head);
    uint32_t n = head - tail;
    uint32_t at;
    uint32_t first;

    if (n > cap) {
        n = cap;
    }
    at = tail & r->mask;
    first = r->mask + 1u - at;
    if (first > n) {
        first = n;
    }
    memcpy(out, r->buf + at, first);
    memcpy(out + first, r->buf, n - first);
    return n;
}

void wsb_ring_consume(wsb_ring_t *r, uint32_t n)
{
    STORE_REL(&r->tail, r->tail + n);
}

uint32_t wsb_ring_read(wsb_ring_t *r, uint8_t *out, uint32_t cap)
{
    uint32_t n = wsb_ring_peek(r, out, cap);
    wsb_ring_consume(r, n);
    return n;
}
