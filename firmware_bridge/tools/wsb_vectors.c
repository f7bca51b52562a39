#include "wsb_vectors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wsb.h"

typedef struct {
    char *buf;
    size_t cap, len;
    int overflow;
    int first;
} jbuf_t;

static void jprintf(jbuf_t *j, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (j->overflow) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= j->cap - j->len) {
        j->overflow = 1;
        return;
    }
    j->len += (size_t)n;
}

static void jhex(jbuf_t *j, const uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) {
        jprintf(j, "%02x", b[i]);
    }
}

/* One vector: name, the wire bytes, the header fields and a JSON object
 * (already formatted) describing the payload. */
static void emit(jbuf_t *j, const char *name, const uint8_t *wire, size_t n, const char *error,
                 const wsb_header_t *h, const char *payload_json)
{
    jprintf(j, "%s\n  {\n    \"name\": \"%s\",\n    \"hex\": \"", j->first ? "" : ",", name);
    j->first = 0;
    jhex(j, wire, n);
    jprintf(j, "\",\n");
    if (error != NULL) {
        jprintf(j, "    \"error\": \"%s\"\n  }", error);
        return;
    }
    jprintf(j,
            "    \"header\": {\"version\": %u, \"type\": %u, \"stream\": %u, \"flags\": %u, \"seq\": %lu, "
            "\"timestamp_us\": %llu},\n    \"payload\": %s\n  }",
            h->version, h->type, h->stream, h->flags, (unsigned long)h->seq,
            (unsigned long long)h->timestamp_us, payload_json);
}

static size_t frame(uint8_t *wire, size_t cap, wsb_header_t *h, uint8_t type, uint8_t stream,
                    uint8_t flags, uint32_t seq, uint64_t ts, const uint8_t *p, size_t n)
{
    h->version = WSB_VERSION;
    h->type = type;
    h->stream = stream;
    h->flags = flags;
    h->seq = seq;
    h->timestamp_us = (flags & WSB_FLAG_TS64) ? ts : (ts & 0xFFFFFFFFu);
    return wsb_frame_build(wire, cap, h, p, n);
}

static void data_json(char *out, size_t cap, uint8_t fmt, uint16_t ns, uint8_t nch, uint32_t pq8,
                      const int32_t *vi, const float *vf)
{
    size_t len = 0;
    int i;
    len += (size_t)snprintf(out + len, cap - len,
                            "{\"format\": %u, \"n_samples\": %u, \"n_channels\": %u, \"period_q8\": %lu, "
                            "\"samples\": [",
                            fmt, ns, nch, (unsigned long)pq8);
    for (i = 0; i < ns * nch && len < cap; ++i) {
        if (fmt == WSB_FMT_FLOAT32) {
            len += (size_t)snprintf(out + len, cap - len, "%s%.9g", i ? ", " : "", (double)vf[i]);
        } else {
            len += (size_t)snprintf(out + len, cap - len, "%s%ld", i ? ", " : "", (long)vi[i]);
        }
    }
    if (len < cap) {
        snprintf(out + len, cap - len, "]}");
    }
}

size_t wsb_vectors_json(char *outbuf, size_t cap)
{
    static uint8_t wire[WSB_MAX_ENCODED];
    static uint8_t p[WSB_MAX_PAYLOAD];
    static char pj[16384];
    static int32_t vi[512];
    jbuf_t jb;
    jbuf_t *j = &jb;
    wsb_header_t h;
    size_t n, pl;
    int i;

    jb.buf = outbuf;
    jb.cap = cap;
    jb.len = 0;
    jb.overflow = 0;
    jb.first = 1;
    jprintf(j, "{\n\"protocol_version\": %u,\n\"generator\": \"firmware_bridge/tools/wsb_tool vectors\",\n"
               "\"vectors\": [",
            WSB_VERSION);

    {
        wsb_device_info_t d = {"wearsense-demo", "SN-0042", 1, 2, 3, 3, 0xDEADBEEFu};
        pl = wsb_payload_hello_device(p, sizeof p, &d);
        n = frame(wire, sizeof wire, &h, WSB_T_HELLO, WSB_STREAM_DEVICE, 0, 0, 1000, p, pl);
        emit(j, "hello_device", wire, n, NULL, &h,
             "{\"n_streams\": 3, \"firmware\": \"1.2.3\", \"boot_id\": 3735928559, \"max_payload\": 1024, "
             "\"name\": \"wearsense-demo\", \"serial\": \"SN-0042\"}");
    }
    {
        static const char *labels[2] = {"biceps_brachii_r", "triceps_brachii_r"};
        static const char *units[2] = {"V", "V"};
        static const float scale[2] = {2.2351741e-8f, 4.4703484e-8f};
        wsb_stream_info_t s = {WSB_MOD_EMG, WSB_FMT_INT24, 2, 2000.0f, "emg", labels, units, scale};
        pl = wsb_payload_hello_stream(p, sizeof p, &s);
        n = frame(wire, sizeof wire, &h, WSB_T_HELLO, 0, 0, 1, 1001, p, pl);
        emit(j, "hello_stream_emg", wire, n, NULL, &h,
             "{\"modality\": 1, \"format\": 2, \"rate_hz\": 2000, \"name\": \"emg\", "
             "\"channels\": [\"biceps_brachii_r\", \"triceps_brachii_r\"], \"units\": [\"V\", \"V\"], "
             "\"scale\": [2.2351741e-08, 4.4703484e-08]}");
    }
    {
        static const char *labels[3] = {"acc_x", "gyro_x", "mag_x"};
        static const char *units[3] = {"m/s^2", "deg/s", "uT"};
        static const float scale[3] = {0.0047884f, 0.061035f, 0.15f};
        wsb_stream_info_t s = {WSB_MOD_IMU, WSB_FMT_INT16, 3, 200.0f, "imu0", labels, units, scale};
        pl = wsb_payload_hello_stream(p, sizeof p, &s);
        n = frame(wire, sizeof wire, &h, WSB_T_HELLO, 1, 0, 2, 1002, p, pl);
        emit(j, "hello_stream_imu", wire, n, NULL, &h,
             "{\"modality\": 2, \"format\": 1, \"rate_hz\": 200, \"name\": \"imu0\", "
             "\"channels\": [\"acc_x\", \"gyro_x\", \"mag_x\"], \"units\": [\"m/s^2\", \"deg/s\", \"uT\"], "
             "\"scale\": [0.0047884, 0.061035, 0.15]}");
    }
    {
        static const int32_t v[6] = {0, -1, 32767, -32768, 256, 1};
        int ok = wsb_payload_data(p, sizeof p, &pl, WSB_FMT_INT16, 3, 2, 5000u * 256u, v, NULL);
        n = frame(wire, sizeof wire, &h, WSB_T_DATA, 1, 0, 600, 5000000, p, pl);
        data_json(pj, sizeof pj, WSB_FMT_INT16, 3, 2, 5000u * 256u, v, NULL);
        emit(j, ok == WSB_OK ? "data_int16" : "data_int16_FAILED", wire, n, NULL, &h, pj);
    }
    {
        static const int32_t v[4] = {8388607, -8388608, 0, -2};
        int ok = wsb_payload_data(p, sizeof p, &pl, WSB_FMT_INT24, 2, 2, 500u * 256u, v, NULL);
        n = frame(wire, sizeof wire, &h, WSB_T_DATA, 0, 0, 123456, 4294967000u, p, pl);
        data_json(pj, sizeof pj, WSB_FMT_INT24, 2, 2, 500u * 256u, v, NULL);
        emit(j, ok == WSB_OK ? "data_int24_near_wrap" : "data_int24_FAILED", wire, n, NULL, &h, pj);
    }
    {
        static const float v[4] = {1.5f, -0.25f, 9.81f, 0.0f};
        int ok = wsb_payload_data(p, sizeof p, &pl, WSB_FMT_FLOAT32, 2, 2, 16000u, NULL, v);
        n = frame(wire, sizeof wire, &h, WSB_T_DATA, 2, WSB_FLAG_TS64, 7, 0x0000012345678901ull, p, pl);
        data_json(pj, sizeof pj, WSB_FMT_FLOAT32, 2, 2, 16000u, NULL, v);
        emit(j, ok == WSB_OK ? "data_float32_ts64" : "data_float32_FAILED", wire, n, NULL, &h, pj);
    }
    {
        /* 100 samples x 1 channel of non-zero int24: > 254 non-zero bytes, so a 0xFF COBS block */
        for (i = 0; i < 100; ++i) {
            vi[i] = 0x010101 + i;
        }
        (void)wsb_payload_data(p, sizeof p, &pl, WSB_FMT_INT24, 100, 1, 256u * 256u, vi, NULL);
        n = frame(wire, sizeof wire, &h, WSB_T_DATA, 0, 0, 0x01010101u, 0x01010101u, p, pl);
        data_json(pj, sizeof pj, WSB_FMT_INT24, 100, 1, 256u * 256u, vi, NULL);
        emit(j, "data_long_nonzero_run", wire, n, NULL, &h, pj);
    }
    {
        /* largest payload: 339 samples x 1 channel int24 = 1017 + 6 bytes */
        for (i = 0; i < 339 && i < 512; ++i) {
            vi[i] = (i % 7 == 0) ? 0 : (i * 9973) % 8388607 - 4000000;
        }
        (void)wsb_payload_data(p, sizeof p, &pl, WSB_FMT_INT24, 339, 1, 62u * 256u + 128u, vi, NULL);
        n = frame(wire, sizeof wire, &h, WSB_T_DATA, 0, 0, 42, 42, p, pl);
        data_json(pj, sizeof pj, WSB_FMT_INT24, 339, 1, 62u * 256u + 128u, vi, NULL);
        emit(j, "data_max_payload", wire, n, NULL, &h, pj);
    }
    {
        wsb_status_t s = {3987, 91, 3, 2, 40, 1};
        pl = wsb_payload_status(p, sizeof p, &s);
        n = frame(wire, sizeof wire, &h, WSB_T_STATUS, WSB_STREAM_DEVICE, 0, 9, 60000000, p, pl);
        emit(j, "status", wire, n, NULL, &h,
             "{\"battery_mv\": 3987, \"battery_pct\": 91, \"tx_fill_pct\": 3, \"overruns\": 2, "
             "\"dropped_samples\": 40, \"rx_errors\": 1}");
    }
    {
        pl = wsb_payload_event(p, sizeof p, WSB_EV_SYNC_PULSE, -7, "clap");
        n = frame(wire, sizeof wire, &h, WSB_T_EVENT, WSB_STREAM_DEVICE, 0, 10, 61000000, p, pl);
        emit(j, "event_sync_pulse", wire, n, NULL, &h, "{\"code\": 2, \"value\": -7, \"text\": \"clap\"}");
    }
    {
        pl = wsb_payload_time_sync_req(p, sizeof p, 77, 123456789012ull);
        n = frame(wire, sizeof wire, &h, WSB_T_TIME_SYNC_REQ, WSB_STREAM_DEVICE, 0, 5, 123456789012ull, p, pl);
        emit(j, "time_sync_request", wire, n, NULL, &h, "{\"token\": 77, \"host_send_us\": 123456789012}");
    }
    {
        pl = wsb_payload_time_sync_resp(p, sizeof p, 77, 123456789012ull, 5000123ull, 5000150ull);
        n = frame(wire, sizeof wire, &h, WSB_T_TIME_SYNC_RESP, WSB_STREAM_DEVICE, 0, 11, 5000150ull, p, pl);
        emit(j, "time_sync_response", wire, n, NULL, &h,
             "{\"token\": 77, \"host_send_us\": 123456789012, \"device_rx_us\": 5000123, "
             "\"device_tx_us\": 5000150}");
    }
    {
        pl = wsb_payload_ack(p, sizeof p, WSB_T_SET_RATE, WSB_ACK_BAD_STATE, 4);
        n = frame(wire, sizeof wire, &h, WSB_T_ACK, WSB_STREAM_DEVICE, 0, 12, 5000200ull, p, pl);
        emit(j, "ack_bad_state", wire, n, NULL, &h, "{\"command\": 131, \"status\": 3, \"command_seq\": 4}");
    }
    n = frame(wire, sizeof wire, &h, WSB_T_START, WSB_STREAM_DEVICE, 0, 1, 0, NULL, 0);
    emit(j, "start_all", wire, n, NULL, &h, "{}");
    n = frame(wire, sizeof wire, &h, WSB_T_STOP, WSB_STREAM_DEVICE, 0, 2, 0, NULL, 0);
    emit(j, "stop_all", wire, n, NULL, &h, "{}");
    n = frame(wire, sizeof wire, &h, WSB_T_HELLO_REQ, WSB_STREAM_DEVICE, 0, 3, 0, NULL, 0);
    emit(j, "hello_request", wire, n, NULL, &h, "{}");
    pl = wsb_payload_set_rate(p, sizeof p, 1000.0f);
    n = frame(wire, sizeof wire, &h, WSB_T_SET_RATE, 0, 0, 4, 0, p, pl);
    emit(j, "set_rate_emg_1000", wire, n, NULL, &h, "{\"rate_hz\": 1000}");

    /* invalid frames: what a receiver must reject */
    {
        static const int32_t v[2] = {1, 2};
        (void)wsb_payload_data(p, sizeof p, &pl, WSB_FMT_INT16, 1, 2, 5000u * 256u, v, NULL);
        n = frame(wire, sizeof wire, &h, WSB_T_DATA, 1, 0, 1, 2, p, pl);
        wire[3] ^= 0x10u; /* a payload bit; stays non-zero */
        emit(j, "bad_crc", wire, n, "crc", NULL, NULL);
        n = frame(wire, sizeof wire, &h, WSB_T_DATA, 1, 0, 1, 2, p, pl);
        wire[5] = 0;
        emit(j, "truncated", wire, 6, "cobs", NULL, NULL);
        h.version = 0x20;
        h.type = WSB_T_DATA;
        h.stream = 1;
        h.flags = 0;
        h.seq = 1;
        h.timestamp_us = 2;
        n = wsb_frame_build(wire, sizeof wire, &h, p, pl);
        emit(j, "unknown_major_version", wire, n, "version", NULL, NULL);
        {
            static const uint8_t tiny[4] = {0x03, 0x10, 0x02, 0x00};
            emit(j, "too_short", tiny, sizeof tiny, "short", NULL, NULL);
        }
    }
    jprintf(j, "\n]\n}\n");
    return j->overflow ? 0 : j->len;
}
