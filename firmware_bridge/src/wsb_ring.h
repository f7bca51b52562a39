/* Lock-free single-producer single-consumer byte ring.
 *
 * One context (an ISR or sampling task) writes, one other context (the USB or
 * UART transmit task) reads; no lock is needed. Capacity must be a power of
 * two; storage is supplied by the caller (no allocation). Frames are written
 * whole or not at all (wsb_ring_write returns 0 and counts an overrun), so the
 * reader never sees half a frame.
 *
 * Index publication uses acquire/release ordering: the GCC/Clang __atomic
 * builtins where available, otherwise volatile accesses plus WSB_RING_FENCE(),
 * which a port may define (e.g. __DMB() on Cortex-M).
 */
#ifndef WSB_RING_H
#define WSB_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint8_t *buf;
    uint32_t mask;          /* capacity - 1 */
    volatile uint32_t head; /* written only by the producer: total bytes written */
    volatile uint32_t tail; /* written only by the consumer: total bytes read */
    uint32_t overruns;      /* writes refused because the ring was full (producer side) */
} wsb_ring_t;

/* capacity must be a power of two >= 2; returns 0 on success, -1 otherwise. */
int wsb_ring_init(wsb_ring_t *r, uint8_t *storage, uint32_t capacity);
uint32_t wsb_ring_capacity(const wsb_ring_t *r);
/* Bytes waiting to be read (safe from either side). */
uint32_t wsb_ring_used(const wsb_ring_t *r);
/* Bytes that can be written now (safe from either side). */
uint32_t wsb_ring_free(const wsb_ring_t *r);
/* Producer: append all len bytes, or nothing (returns 0 and counts an overrun). */
uint32_t wsb_ring_write(wsb_ring_t *r, const uint8_t *data, uint32_t len);
/* Consumer: copy up to cap bytes without consuming them; returns the count. */
uint32_t wsb_ring_peek(const wsb_ring_t *r, uint8_t *out, uint32_t cap);
/* Consumer: drop n bytes (n <= wsb_ring_used). */
void wsb_ring_consume(wsb_ring_t *r, uint32_t n);
/* Consumer: peek + consume. */
uint32_t wsb_ring_read(wsb_ring_t *r, uint8_t *out, uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif /* WSB_RING_H */
