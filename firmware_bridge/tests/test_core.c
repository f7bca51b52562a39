/* Unit tests of the C core: COBS, CRC, frames, parser, ring buffer, vectors.
 * Usage: test_core [path/to/vectors.json]   (exit status 0 = all passed) */
#define _XOPEN_SOURCE 700

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsb.h"
#include "wsb_vectors.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        ++checks;                                                                    \
        if (!(cond)) {                                                               \
            ++failures;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

static uint64_t rng_state = 88172645463325252ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void test_crc(void)
{
    static const uint8_t check[9] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    uint16_t c;
    CHECK(wsb_crc16(check, 9) == 0x29B1u);
    c = wsb_crc16_update(WSB_CRC16_INIT, check, 4);
    CHECK(wsb_crc16_update(c, check + 4, 5) == 0x29B1u);
    CHECK(wsb_crc16(check, 0) == 0xFFFFu);
}

static void cobs_case(const uint8_t *in, size_t n, const uint8_t *expect, size_t m)
{
    uint8_t enc[600], dec[600];
    size_t got, dn = 0;
    got = wsb_cobs_encode(in, n, enc, sizeof enc);
    CHECK(got == m);
    CHECK(memcmp(enc, expect, m) == 0);
    CHECK(wsb_cobs_decode(enc, got, dec, sizeof dec, &dn) == WSB_COBS_OK);
    CHECK(dn == n);
    CHECK(n == 0 || memcmp(dec, in, n) == 0);
}

static void test_cobs(void)
{
    /* examples from Cheshire & Baker / the Wikipedia COBS article */
    static const uint8_t a[] = {0x00}, ea[] = {0x01, 0x01};
    static const uint8_t b[] = {0x00, 0x00}, eb[] = {0x01, 0x01, 0x01};
    static const uint8_t c[] = {0x11, 0x22, 0x00, 0x33}, ec[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    static const uint8_t d[] = {0x11, 0x22, 0x33, 0x44}, ed[] = {0x05, 0x11, 0x22, 0x33, 0x44};
    static const uint8_t e[] = {0x11, 0x00, 0x00, 0x00}, ee[] = {0x02, 0x11, 0x01, 0x01, 0x01};
    static uint8_t f[254], ef[256];
    static uint8_t g[255], eg[258];
    uint8_t enc[600], dec[600];
    size_t i, n = 0;
    cobs_case(a, sizeof a, ea, sizeof ea);
    cobs_case(b, sizeof b, eb, sizeof eb);
    cobs_case(c, sizeof c, ec, sizeof ec);
    cobs_case(d, sizeof d, ed, sizeof ed);
    cobs_case(e, sizeof e, ee, sizeof ee);
    /* 254 non-zero bytes: one 0xFF block plus a trailing empty block */
    ef[0] = 0xFF;
    for (i = 0; i < 254; ++i) {
        f[i] = (uint8_t)(i + 1);
        ef[i + 1] = (uint8_t)(i + 1);
    }
    ef[255] = 0x01;
    cobs_case(f, sizeof f, ef, sizeof ef);
    /* 255 non-zero bytes */
    eg[0] = 0xFF;
    for (i = 0; i < 255; ++i) {
        g[i] = (uint8_t)((i % 255) + 1);
    }
    for (i = 0; i < 254; ++i) {
        eg[i + 1] = g[i];
    }
    eg[255] = 0x02;
    eg[256] = g[254];
    cobs_case(g, sizeof g, eg, 257);
    /* errors */
    CHECK(wsb_cobs_decode(ec, 0, dec, sizeof dec, &n) == WSB_COBS_ERR_EMPTY);
    CHECK(wsb_cobs_decode(ec, 4, dec, sizeof dec, &n) == WSB_COBS_ERR_OVERRUN);
    {
        static const uint8_t z[] = {0x03, 0x00, 0x01};
        CHECK(wsb_cobs_decode(z, 3, dec, sizeof dec, &n) == WSB_COBS_ERR_ZERO);
    }
    CHECK(wsb_cobs_decode(ed, sizeof ed, dec, 2, &n) == WSB_COBS_ERR_SPACE);
    CHECK(wsb_cobs_encode(d, sizeof d, enc, 3) == 0);
    /* random round trips, encoded form never holds a zero, size bound holds */
    for (i = 0; i < 2000; ++i) {
        uint8_t in[600];
        size_t len = rnd() % 520, k, m;
        for (k = 0; k < len; ++k) {
            in[k] = (rnd() % 4 == 0) ? 0 : (uint8_t)rnd();
        }
        m = wsb_cobs_encode(in, len, enc, sizeof enc);
        CHECK(m > 0 && m <= WSB_COBS_MAX_ENCODED(len));
        CHECK(memchr(enc, 0, m) == NULL);
        CHECK(wsb_cobs_decode(enc, m, dec, sizeof dec, &n) == WSB_COBS_OK && n == len);
        CHECK(len == 0 || memcmp(in, dec, len) == 0);
    }
}

static void test_frame_roundtrip(void)
{
    static uint8_t wire[WSB_MAX_ENCODED], dec[WSB_MAX_DECODED], payload[WSB_MAX_PAYLOAD];
    static int32_t v[WSB_MAX_PAYLOAD];
    wsb_header_t h = {WSB_VERSION, WSB_T_DATA, 3, WSB_FLAG_TS64, 0xFFFFFFF0u, 0x1122334455667788ull};
    wsb_header_t g;
    const uint8_t *p;
    size_t n, dn = 0, pl = 0, plen = 0, i;
    for (i = 0; i < 20 * 16; ++i) {
        v[i] = (int32_t)(rnd() % 16777216u) - 8388608;
    }
    CHECK(wsb_payload_data(payload, sizeof payload, &pl, WSB_FMT_INT24, 20, 16, 128000u, v, NULL) == WSB_OK);
    CHECK(pl == 6 + 20 * 16 * 3);
    n = wsb_frame_build(wire, sizeof wire, &h, payload, pl);
    CHECK(n > 0 && wire[n - 1] == 0);
    CHECK(memchr(wire, 0, n - 1) == NULL);
    CHECK(wsb_cobs_decode(wire, n - 1, dec, sizeof dec, &dn) == WSB_COBS_OK);
    CHECK(wsb_frame_parse(dec, dn, &g, &p, &plen) == WSB_OK);
    CHECK(g.type == WSB_T_DATA && g.stream == 3 && g.seq == 0xFFFFFFF0u);
    CHECK(g.timestamp_us == 0x1122334455667788ull);
    CHECK(plen == pl && memcmp(p, payload, pl) == 0);
    /* CRC over header+payload+crc (sent high byte first) leaves residue 0 */
    CHECK(wsb_crc16(dec, dn) == 0);
    {
        wsb_reader_t r;
        wsb_reader_init(&r, p, plen);
        CHECK(wsb_get_u16(&r) == 20);
        CHECK(wsb_get_u32(&r) == 128000u);
        for (i = 0; i < 20 * 16; ++i) {
            CHECK(wsb_get_i24(&r) == v[i]);
        }
        CHECK(!r.error);
        (void)wsb_get_u8(&r);
        CHECK(r.error);
    }
    /* 32-bit timestamps are truncated */
    h.flags = 0;
    n = wsb_frame_build(wire, sizeof wire, &h, payload, pl);
    CHECK(wsb_cobs_decode(wire, n - 1, dec, sizeof dec, &dn) == WSB_COBS_OK);
    CHECK(wsb_frame_parse(dec, dn, &g, &p, &plen) == WSB_OK && g.timestamp_us == 0x55667788u);
    /* every single-bit error is caught */
    for (i = 0; i < dn * 8; i += 3) {
        dec[i / 8] ^= (uint8_t)(1u << (i % 8));
        CHECK(wsb_frame_parse(dec, dn, &g, &p, &plen) != WSB_OK);
        dec[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* range checks and oversize payloads */
    v[0] = 40000;
    CHECK(wsb_payload_data(payload, sizeof payload, &pl, WSB_FMT_INT16, 1, 1, 1u, v, NULL) == WSB_ERR_RANGE);
    CHECK(wsb_payload_data(payload, sizeof payload, &pl, WSB_FMT_INT24, 400, 1, 1u, v, NULL) == WSB_ERR_SPACE);
    CHECK(wsb_payload_data(payload, sizeof payload, &pl, 9, 1, 1, 1u, v, NULL) == WSB_ERR_FORMAT);
    CHECK(wsb_frame_build(wire, sizeof wire, &h, payload, WSB_MAX_PAYLOAD + 1) == 0);
    CHECK(wsb_frame_build(wire, 10, &h, payload, 100) == 0);
}

static void test_parser_noise(void)
{
    static wsb_parser_t p;
    static uint8_t wire[WSB_MAX_ENCODED];
    uint8_t payload[32];
    wsb_header_t h = {WSB_VERSION, WSB_T_STATUS, WSB_STREAM_DEVICE, 0, 0, 0};
    wsb_status_t st = {3700, 50, 0, 0, 0, 0};
    size_t n, pl, i, k;
    unsigned good = 0;
    wsb_parser_init(&p);
    pl = wsb_payload_status(payload, sizeof payload, &st);
    for (k = 0; k < 500; ++k) {
        /* random noise, sometimes longer than any frame */
        size_t noise = rnd() % (k % 50 == 0 ? 3000u : 40u);
        for (i = 0; i < noise; ++i) {
            (void)wsb_parser_feed(&p, (uint8_t)rnd());
        }
        (void)wsb_parser_feed(&p, 0);
        h.seq = (uint32_t)k;
        n = wsb_frame_build(wire, sizeof wire, &h, payload, pl);
        for (i = 0; i < n; ++i) {
            int r = wsb_parser_feed(&p, wire[i]);
            if (r == WSB_PARSE_FRAME) {
                CHECK(p.header.seq == k && p.payload_len == pl);
                good++;
            }
        }
    }
    CHECK(good == 500);
    CHECK(p.frames_bad > 0);
}

#define RING_CAP 1024u
#define RING_TOTAL 2000000u

static wsb_ring_t shared_ring;
static uint8_t shared_storage[RING_CAP];

static void *producer(void *arg)
{
    uint32_t next = 0;
    (void)arg;
    while (next < RING_TOTAL) {
        uint8_t block[7];
        uint32_t n = 1 + next % 7, i;
        if (next + n > RING_TOTAL) {
            n = RING_TOTAL - next;
        }
        for (i = 0; i < n; ++i) {
            block[i] = (uint8_t)(next + i);
        }
        if (wsb_ring_write(&shared_ring, block, n) == n) {
            next += n;
        }
    }
    return NULL;
}

static void test_ring(void)
{
    static uint8_t storage[16];
    wsb_ring_t r;
    uint8_t out[32];
    uint32_t i;
    pthread_t th;
    uint32_t got = 0;
    int ordered = 1;
    CHECK(wsb_ring_init(&r, storage, 12) == -1);
    CHECK(wsb_ring_init(&r, storage, 16) == 0);
    CHECK(wsb_ring_write(&r, (const uint8_t *)"0123456789", 10) == 10);
    CHECK(wsb_ring_used(&r) == 10 && wsb_ring_free(&r) == 6);
    CHECK(wsb_ring_write(&r, (const uint8_t *)"abcdefg", 7) == 0); /* all or nothing */
    CHECK(r.overruns == 1);
    CHECK(wsb_ring_read(&r, out, 8) == 8 && memcmp(out, "01234567", 8) == 0);
    CHECK(wsb_ring_write(&r, (const uint8_t *)"abcdefghijklmn", 14) == 14); /* wraps */
    CHECK(wsb_ring_read(&r, out, sizeof out) == 16 && memcmp(out, "89abcdefghijklmn", 16) == 0);
    CHECK(wsb_ring_used(&r) == 0);
    /* index wrap-around of the 32-bit counters */
    r.head = r.tail = 0xFFFFFFF8u;
    CHECK(wsb_ring_write(&r, (const uint8_t *)"ABCDEFGHIJKL", 12) == 12);
    CHECK(wsb_ring_used(&r) == 12);
    CHECK(wsb_ring_read(&r, out, sizeof out) == 12 && memcmp(out, "ABCDEFGHIJKL", 12) == 0);
    /* one producer thread, one consumer thread: every byte, in order */
    CHECK(wsb_ring_init(&shared_ring, shared_storage, RING_CAP) == 0);
    CHECK(pthread_create(&th, NULL, producer, NULL) == 0);
    while (got < RING_TOTAL) {
        uint32_t n = wsb_ring_read(&shared_ring, out, 1 + got % 31);
        for (i = 0; i < n; ++i) {
            if (out[i] != (uint8_t)(got + i)) {
                ordered = 0;
            }
        }
        got += n;
    }
    pthread_join(th, NULL);
    CHECK(ordered);
    CHECK(got == RING_TOTAL);
}

static int hexval(char c)
{
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Each vector's hex through the streaming parser: valid ones parse, invalid ones fail. */
static void test_vectors(const char *path)
{
    static char generated[1 << 20];
    static char committed[1 << 20];
    static wsb_parser_t p;
    size_t n = wsb_vectors_json(generated, sizeof generated);
    size_t m = 0;
    const char *at = generated;
    unsigned valid = 0, invalid = 0;
    CHECK(n > 0);
    if (path != NULL) {
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (f != NULL) {
            m = fread(committed, 1, sizeof committed - 1, f);
            fclose(f);
        }
        CHECK(m == n && memcmp(committed, generated, n) == 0);
        if (m != n || memcmp(committed, generated, n) != 0) {
            fprintf(stderr, "vectors/vectors.json differs from what the C core generates; "
                            "regenerate with 'make vectors'\n");
        }
    }
    while ((at = strstr(at, "\"hex\": \"")) != NULL) {
        const char *q = at + 8;
        const char *err = strstr(q, "\"error\"");
        const char *next = strstr(q, "\"name\"");
        int expect_error = err != NULL && (next == NULL || err < next);
        int result = WSB_PARSE_NONE;
        wsb_parser_init(&p);
        (void)wsb_parser_feed(&p, 0);
        while (hexval(q[0]) >= 0 && hexval(q[1]) >= 0) {
            int r = wsb_parser_feed(&p, (uint8_t)(hexval(q[0]) * 16 + hexval(q[1])));
            if (r != WSB_PARSE_NONE) {
                result = r;
            }
            q += 2;
        }
        if (expect_error) {
            CHECK(result == WSB_PARSE_ERROR);
            invalid++;
        } else {
            CHECK(result == WSB_PARSE_FRAME);
            valid++;
        }
        at = q;
    }
    CHECK(valid >= 15 && invalid >= 4);
}

int main(int argc, char **argv)
{
    test_crc();
    test_cobs();
    test_frame_roundtrip();
    test_parser_noise();
    test_ring();
    test_vectors(argc > 1 ? argv[1] : NULL);
    printf("%d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
