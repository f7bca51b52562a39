#include "wsb_frame.h"

#include <string.h>

void wsb_writer_init(wsb_writer_t *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
}

void wsb_put_u8(wsb_writer_t *w, uint8_t v)
{
    if (w->len < w->cap) {
        w->buf[w->len++] = v;
    } else {
        w->overflow = 1;
    }
}

void wsb_put_u16(wsb_writer_t *w, uint16_t v)
{
    wsb_put_u8(w, (uint8_t)(v & 0xFFu));
    wsb_put_u8(w, (uint8_t)(v >> 8));
}

void wsb_put_u32(wsb_writer_t *w, uint32_t v)
{
    wsb_put_u16(w, (uint16_t)(v & 0xFFFFu));
    wsb_put_u16(w, (uint16_t)(v >> 16));
}

void wsb_put_u64(wsb_writer_t *w, uint64_t v)
{
    wsb_put_u32(w, (uint32_t)(v & 0xFFFFFFFFu));
    wsb_put_u32(w, (uint32_t)(v >> 32));
}

void wsb_put_i16(wsb_writer_t *w, int16_t v)
{
    wsb_put_u16(w, (uint16_t)v);
}

void wsb_put_i24(wsb_writer_t *w, int32_t v)
{
    uint32_t u = (uint32_t)v;
    wsb_put_u8(w, (uint8_t)(u & 0xFFu));
    wsb_put_u8(w, (uint8_t)((u >> 8) & 0xFFu));
    wsb_put_u8(w, (uint8_t)((u >> 16) & 0xFFu));
}

void wsb_put_f32(wsb_writer_t *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    wsb_put_u32(w, u);
}

void wsb_put_str(wsb_writer_t *w, const char *s)
{
    size_t n = 0;
    size_t i;
    if (s != NULL) {
        while (s[n] != '\0' && n < WSB_MAX_STRING) {
            ++n;
        }
    }
    wsb_put_u8(w, (uint8_t)n);
    for (i = 0; i < n; ++i) {
        wsb_put_u8(w, (uint8_t)s[i]);
    }
}

void wsb_reader_init(wsb_reader_t *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    r->error = 0;
}

uint8_t wsb_get_u8(wsb_reader_t *r)
{
    if (r->pos < r->len) {
        return r->buf[r->pos++];
    }
    r->error = 1;
    return 0;
}

uint16_t wsb_get_u16(wsb_reader_t *r)
{
    uint16_t lo = wsb_get_u8(r);
    uint16_t hi = wsb_get_u8(r);
    return (uint16_t)(lo | (uint16_t)(hi << 8));
}

uint32_t wsb_get_u32(wsb_reader_t *r)
{
    uint32_t lo = wsb_get_u16(r);
    uint32_t hi = wsb_get_u16(r);
    return lo | (hi << 16);
}

uint64_t wsb_get_u64(wsb_reader_t *r)
{
    uint64_t lo = wsb_get_u32(r);
    uint64_t hi = wsb_get_u32(r);
    return lo | (hi << 32);
}

int16_t wsb_get_i16(wsb_reader_t *r)
{
    uint16_t u = wsb_get_u16(r);
    return (int16_t)(u >= 0x8000u ? (int32_t)u - 0x10000 : (int32_t)u);
}

int32_t wsb_get_i24(wsb_reader_t *r)
{
    uint32_t b0 = wsb_get_u8(r);
    uint32_t b1 = wsb_get_u8(r);
    uint32_t b2 = wsb_get_u8(r);
    uint32_t u = b0 | (b1 << 8) | (b2 << 16);
    return (u & 0x800000u) ? (int32_t)u - 0x1000000 : (int32_t)u;
}

float wsb_get_f32(wsb_reader_t *r)
{
    uint32_t u = wsb_get_u32(r);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

size_t wsb_get_str(wsb_reader_t *r, char *out, size_t cap)
{
    size_t n = wsb_get_u8(r);
    size_t i;
    size_t kept = 0;
    for (i = 0; i < n; ++i) {
        uint8_t c = wsb_get_u8(r);
        if (kept + 1 < cap) {
            out[kept++] = (char)c;
        }
    }
    if (cap > 0) {
        out[kept] = '\0';
    }
    return kept;
}

size_t wsb_format_size(uint8_t fmt)
{
    switch (fmt) {
    case WSB_FMT_INT16:
        return 2;
    case WSB_FMT_INT24:
        return 3;
    case WSB_FMT_FLOAT32:
        return 4;
    default:
        return 0;
    }
}

size_t wsb_frame_build(uint8_t *out, size_t cap, const wsb_header_t *h,
                       const uint8_t *payload, size_t payload_len)
{
    uint8_t raw[WSB_MAX_DECODED];
    wsb_writer_t w;
    uint16_t crc;
    size_t n;

    if (payload_len > WSB_MAX_PAYLOAD || (payload_len > 0 && payload == NULL)) {
        return 0;
    }
    wsb_writer_init(&w, raw, sizeof raw);
    wsb_put_u8(&w, h->version);
    wsb_put_u8(&w, h->type);
    wsb_put_u8(&w, h->stream);
    wsb_put_u8(&w, h->flags);
    wsb_put_u32(&w, h->seq);
    if (h->flags & WSB_FLAG_TS64) {
        wsb_put_u64(&w, h->timestamp_us);
    } else {
        wsb_put_u32(&w, (uint32_t)(h->timestamp_us & 0xFFFFFFFFu));
    }
    if (payload_len > 0) {
        memcpy(raw + w.len, payload, payload_len);
        w.len += payload_len;
    }
    crc = wsb_crc16(raw, w.len);
    wsb_put_u8(&w, (uint8_t)(crc >> 8));
    wsb_put_u8(&w, (uint8_t)(crc & 0xFFu));
    if (w.overflow || cap < 2) {
        return 0;
    }
    n = wsb_cobs_encode(raw, w.len, out, cap - 1);
    if (n == 0) {
        return 0;
    }
    out[n] = 0;
    return n + 1;
}

int wsb_frame_parse(const uint8_t *frame, size_t len, wsb_header_t *h,
                    const uint8_t **payload, size_t *payload_len)
{
    size_t hlen;
    uint16_t crc;
    wsb_reader_t r;

    if (len < WSB_HEADER32_SIZE + WSB_CRC_SIZE) {
        return WSB_ERR_SHORT;
    }
    crc = (uint16_t)(((uint16_t)frame[len - 2] << 8) | frame[len - 1]);
    if (wsb_crc16(frame, len - WSB_CRC_SIZE) != crc) {
        return WSB_ERR_CRC;
    }
    if ((frame[0] >> 4) != WSB_VERSION_MAJOR) {
        return WSB_ERR_VERSION;
    }
    hlen = (frame[3] & WSB_FLAG_TS64) ? WSB_HEADER64_SIZE : WSB_HEADER32_SIZE;
    if (len < hlen + WSB_CRC_SIZE) {
        return WSB_ERR_SHORT;
    }
    wsb_reader_init(&r, frame, len - WSB_CRC_SIZE);
    h->version = wsb_get_u8(&r);
    h->type = wsb_get_u8(&r);
    h->stream = wsb_get_u8(&r);
    h->flags = wsb_get_u8(&r);
    h->seq = wsb_get_u32(&r);
    h->timestamp_us = (h->flags & WSB_FLAG_TS64) ? wsb_get_u64(&r) : wsb_get_u32(&r);
    *payload = frame + hlen;
    *payload_len = len - hlen - WSB_CRC_SIZE;
    return WSB_OK;
}

size_t wsb_payload_hello_device(uint8_t *out, size_t cap, const wsb_device_info_t *d)
{
    wsb_writer_t w;
    wsb_writer_init(&w, out, cap);
    wsb_put_u8(&w, d->n_streams);
    wsb_put_u8(&w, d->fw_major);
    wsb_put_u8(&w, d->fw_minor);
    wsb_put_u8(&w, d->fw_patch);
    wsb_put_u32(&w, d->boot_id);
    wsb_put_u16(&w, (uint16_t)WSB_MAX_PAYLOAD);
    wsb_put_str(&w, d->name);
    wsb_put_str(&w, d->serial);
    return w.overflow ? 0 : w.len;
}

size_t wsb_payload_hello_stream(uint8_t *out, size_t cap, const wsb_stream_info_t *s)
{
    wsb_writer_t w;
    uint8_t i;
    wsb_writer_init(&w, out, cap);
    wsb_put_u8(&w, s->modality);
    wsb_put_u8(&w, s->format);
    wsb_put_u8(&w, s->n_channels);
    wsb_put_u8(&w, 0); /* reserved */
    wsb_put_f32(&w, s->rate_hz);
    wsb_put_str(&w, s->name);
    for (i = 0; i < s->n_channels; ++i) {
        wsb_put_str(&w, s->labels[i]);
        wsb_put_str(&w, s->units[i]);
        wsb_put_f32(&w, s->scale[i]);
    }
    return w.overflow ? 0 : w.len;
}

int wsb_payload_data(uint8_t *out, size_t cap, size_t *out_len, uint8_t format,
                     uint16_t n_samples, uint8_t n_channels, uint32_t period_q8,
                     const int32_t *raw_i32, const float *raw_f32)
{
    wsb_writer_t w;
    size_t i;
    size_t n = (size_t)n_samples * n_channels;
    size_t bytes = wsb_format_size(format);

    if (bytes == 0 || n_channels == 0) {
        return WSB_ERR_FORMAT;
    }
    if (6u + n * bytes > WSB_MAX_PAYLOAD || 6u + n * bytes > cap) {
        return WSB_ERR_SPACE;
    }
    wsb_writer_init(&w, out, cap);
    wsb_put_u16(&w, n_samples);
    wsb_put_u32(&w, period_q8);
    for (i = 0; i < n; ++i) {
        if (format == WSB_FMT_FLOAT32) {
            wsb_put_f32(&w, raw_f32[i]);
        } else if (format == WSB_FMT_INT16) {
            if (raw_i32[i] < -32768 || raw_i32[i] > 32767) {
                return WSB_ERR_RANGE;
            }
            wsb_put_i16(&w, (int16_t)raw_i32[i]);
        } else {
            if (raw_i32[i] < -8388608 || raw_i32[i] > 8388607) {
                return WSB_ERR_RANGE;
            }
            wsb_put_i24(&w, raw_i32[i]);
        }
    }
    *out_len = w.len;
    return WSB_OK;
}

size_t wsb_payload_status(uint8_t *out, size_t cap, const wsb_status_t *s)
{
    wsb_writer_t w;
    wsb_writer_init(&w, out, cap);
    wsb_put_u16(&w, s->battery_mv);
    wsb_put_u8(&w, s->battery_pct);
    wsb_put_u8(&w, s->tx_fill_pct);
    wsb_put_u32(&w, s->overruns);
    wsb_put_u32(&w, s->dropped_samples);
    wsb_put_u32(&w, s->rx_errors);
    return w.overflow ? 0 : w.len;
}

size_t wsb_payload_event(uint8_t *out, size_t cap, uint8_t code, int32_t value, const char *text)
{
    wsb_writer_t w;
    wsb_writer_init(&w, out, cap);
    wsb_put_u8(&w, code);
    wsb_put_u32(&w, (uint32_t)value);
    wsb_put_str(&w, text);
    return w.overflow ? 0 : w.len;
}

size_t wsb_payload_time_sync_resp(uint8_t *out, size_t cap, uint32_t token, uint64_t host_send_us,
                                  uint64_t device_rx_us, uint64_t device_tx_us)
{
    wsb_writer_t w;
    wsb_writer_init(&w, out, cap);
    wsb_put_u32(&w, token);
    wsb_put_u64(&w, host_send_us);
    wsb_put_u64(&w, device_rx_us);
    wsb_put_u64(&w, device_tx_us);
    return w.overflow ? 0 : w.len;
}

size_t wsb_payload_ack(uint8_t *out, size_t cap, uint8_t command, uint8_t status, uint32_t command_seq)
{
    wsb_writer_t w;
    wsb_writer_init(&w, out, cap);
    wsb_put_u8(&w, command);
    wsb_put_u8(&w, status);
    wsb_put_u32(&w, command_seq);
    return w.overflow ? 0 : w.len;
}

size_t wsb_payload_set_rate(uint8_t *out, size_t cap, float rate_hz)
{
    wsb_writer_t w;
    wsb_writer_init(&w, out, cap);
    wsb_put_f32(&w, rate_hz);
    return w.overflow ? 0 : w.len;
}

size_t wsb_payload_time_sync_req(uint8_t *out, size_t cap, uint32_t token, uint64_t host_send_us)
{
    wsb_writer_t w;
    wsb_writer_init(&w, out, cap);
    wsb_put_u32(&w, token);
    wsb_put_u64(&w, host_send_us);
    return w.overflow ? 0 : w.len;
}

void wsb_parser_init(wsb_parser_t *p)
{
    p->enc_len = 0;
    p->overflowing = 0;
    p->frame_len = 0;
    p->payload = NULL;
    p->payload_len = 0;
    p->frames_ok = 0;
    p->frames_bad = 0;
    memset(&p->header, 0, sizeof p->header);
}

int wsb_parser_feed(wsb_parser_t *p, uint8_t byte)
{
    size_t n = 0;
    if (byte != 0) {
        if (p->enc_len < sizeof p->enc) {
            p->enc[p->enc_len++] = byte;
        } else {
            p->overflowing = 1;
        }
        return WSB_PARSE_NONE;
    }
    if (p->overflowing) {
        p->overflowing = 0;
        p->enc_len = 0;
        p->frames_bad++;
        return WSB_PARSE_ERROR;
    }
    if (p->enc_len == 0) {
        return WSB_PARSE_NONE;
    }
    if (wsb_cobs_decode(p->enc, p->enc_len, p->frame, sizeof p->frame, &n) != WSB_COBS_OK
        || wsb_frame_parse(p->frame, n, &p->header, &p->payload, &p->payload_len) != WSB_OK) {
        p->enc_len = 0;
        p->frames_bad++;
        return WSB_PARSE_ERROR;
    }
    p->enc_len = 0;
    p->frame_len = n;
    p->frames_ok++;
    return WSB_PARSE_FRAME;
}
