#include "wsb_cobs.h"

size_t wsb_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    size_t in = 0;
    size_t out = 1;      /* dst[0] is reserved for the first code byte */
    size_t code_at = 0;  /* where the current block's code byte goes */
    uint8_t code = 1;    /* 1 + number of data bytes in the current block */

    if (cap == 0) {
        return 0;
    }
    while (in < len) {
        if (src[in] == 0) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
            if (code_at >= cap) {
                return 0;
            }
        } else {
            if (out >= cap) {
                return 0;
            }
            dst[out++] = src[in];
            ++code;
            if (code == 0xFF) {
                dst[code_at] = code;
                code_at = out++;
                code = 1;
                if (code_at >= cap) {
                    return 0;
                }
            }
        }
        ++in;
    }
    dst[code_at] = code;
    return out;
}

int wsb_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    size_t in = 0;
    size_t out = 0;

    if (len == 0) {
        return WSB_COBS_ERR_EMPTY;
    }
    while (in < len) {
        uint8_t code = src[in];
        size_t i;
        if (code == 0) {
            return WSB_COBS_ERR_ZERO;
        }
        if (in + code > len) {
            return WSB_COBS_ERR_OVERRUN;
        }
        ++in;
        for (i = 1; i < code; ++i) {
            if (src[in] == 0) {
                return WSB_COBS_ERR_ZERO;
            }
            if (out >= cap) {
                return WSB_COBS_ERR_SPACE;
            }
            dst[out++] = src[in++];
        }
        if (code != 0xFF && in < len) {
            if (out >= cap) {
                return WSB_COBS_ERR_SPACE;
            }
            dst[out++] = 0;
        }
    }
    *out_len = out;
    return WSB_COBS_OK;
}
