/* Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999).
 *
 * The encoded form holds no 0x00 byte, so 0x00 delimits frames on the wire.
 * These functions do not write the delimiter; wsb_frame_build does.
 * Plain C99, no allocation, no platform calls.
 */
#ifndef WSB_COBS_H
#define WSB_COBS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Worst-case encoded size of n input bytes (one code byte per 254 bytes, plus one). */
#define WSB_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

/* Encode len bytes of src into dst (capacity cap). Returns the encoded length,
 * or 0 if dst is too small. src and dst must not overlap. */
size_t wsb_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

/* Error codes of wsb_cobs_decode. */
enum {
    WSB_COBS_OK = 0,
    WSB_COBS_ERR_ZERO = -1,     /* a 0x00 byte inside the encoded data */
    WSB_COBS_ERR_OVERRUN = -2,  /* a code byte points past the end of the data */
    WSB_COBS_ERR_SPACE = -3,    /* dst too small */
    WSB_COBS_ERR_EMPTY = -4     /* no input */
};

/* Decode len bytes of src (no delimiter) into dst (capacity cap). On success returns
 * WSB_COBS_OK and stores the decoded length in *out_len; otherwise a negative code. */
int wsb_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* WSB_COBS_H */
