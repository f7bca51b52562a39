/* Frames of the wearsense firmware bridge protocol (see ../PROTOCOL.md).
 *
 * On the wire a frame is COBS(header | payload | crc16_be) followed by 0x00.
 * Header (little-endian):
 *   0  u8  version     (major << 4) | minor, currently 0x10 (v1.0)
 *   1  u8  type        WSB_T_*
 *   2  u8  stream      stream id, 0xFF = the device itself
 *   3  u8  flags       bit 0: timestamp is 64-bit (else 32-bit); other bits 0
 *   4  u32 seq         DATA: index of the frame's first sample in its stream
 *   8  u32|u64 timestamp_us   device clock, microseconds
 * CRC-16/CCITT-FALSE over header+payload, sent high byte first.
 *
 * Plain C99: no allocation, no platform calls. IEEE-754 float32 is assumed.
 */
#ifndef WSB_FRAME_H
#define WSB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "wsb_cobs.h"
#include "wsb_crc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSB_VERSION_MAJOR 1u
#define WSB_VERSION_MINOR 0u
#define WSB_VERSION ((uint8_t)((WSB_VERSION_MAJOR << 4) | WSB_VERSION_MINOR))

#define WSB_HEADER32_SIZE 12u
#define WSB_HEADER64_SIZE 16u
#define WSB_CRC_SIZE 2u
#define WSB_MAX_PAYLOAD 1024u
#define WSB_MAX_DECODED (WSB_HEADER64_SIZE + WSB_MAX_PAYLOAD + WSB_CRC_SIZE)
/* Largest frame on the wire, delimiter included. */
#define WSB_MAX_ENCODED (WSB_COBS_MAX_ENCODED(WSB_MAX_DECODED) + 1u)
#define WSB_MAX_STRING 63u
#define WSB_STREAM_DEVICE 0xFFu
#define WSB_FLAG_TS64 0x01u

/* Frame types: device -> host below 0x80, host -> device from 0x80. */
enum {
    WSB_T_HELLO = 0x01,
    WSB_T_DATA = 0x02,
    WSB_T_EVENT = 0x03,
    WSB_T_STATUS = 0x04,
    WSB_T_TIME_SYNC_RESP = 0x05,
    WSB_T_ACK = 0x06,
    WSB_T_START = 0x81,
    WSB_T_STOP = 0x82,
    WSB_T_SET_RATE = 0x83,
    WSB_T_TIME_SYNC_REQ = 0x84,
    WSB_T_HELLO_REQ = 0x85
};

/* Sample formats of DATA payloads. */
enum { WSB_FMT_INT16 = 1, WSB_FMT_INT24 = 2, WSB_FMT_FLOAT32 = 3 };

/* Modalities (match wearsense.stream.Modality). */
enum {
    WSB_MOD_EMG = 1,
    WSB_MOD_IMU = 2,
    WSB_MOD_EEG = 3,
    WSB_MOD_FORCE = 4,
    WSB_MOD_MARKER = 5,
    WSB_MOD_OTHER = 6
};

/* Event codes. */
enum {
    WSB_EV_BUTTON = 1,
    WSB_EV_SYNC_PULSE = 2,
    WSB_EV_ELECTRODE_OFF = 3,
    WSB_EV_BOOT = 4,
    WSB_EV_USER = 0x80
};

/* ACK status codes. */
enum { WSB_ACK_OK = 0, WSB_ACK_BAD_ARG = 1, WSB_ACK_UNSUPPORTED = 2, WSB_ACK_BAD_STATE = 3 };

/* Return codes of the builders and parsers. */
enum {
    WSB_OK = 0,
    WSB_ERR_SPACE = -1,    /* output buffer too small / payload too long */
    WSB_ERR_SHORT = -2,    /* frame shorter than header + CRC */
    WSB_ERR_CRC = -3,      /* CRC mismatch */
    WSB_ERR_VERSION = -4,  /* unknown major version */
    WSB_ERR_COBS = -5,     /* COBS decoding failed */
    WSB_ERR_RANGE = -6,    /* a value does not fit its field */
    WSB_ERR_FORMAT = -7    /* payload malformed */
};

typedef struct {
    uint8_t version;
    uint8_t type;
    uint8_t stream;
    uint8_t flags;
    uint32_t seq;
    uint64_t timestamp_us; /* truncated to 32 bits unless flags & WSB_FLAG_TS64 */
} wsb_header_t;

/* Bounded little-endian writer over caller-owned memory. Writes past cap set
 * overflow and are dropped, so a builder checks once at the end. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
} wsb_writer_t;

void wsb_writer_init(wsb_writer_t *w, uint8_t *buf, size_t cap);
void wsb_put_u8(wsb_writer_t *w, uint8_t v);
void wsb_put_u16(wsb_writer_t *w, uint16_t v);
void wsb_put_u32(wsb_writer_t *w, uint32_t v);
void wsb_put_u64(wsb_writer_t *w, uint64_t v);
void wsb_put_i16(wsb_writer_t *w, int16_t v);
void wsb_put_i24(wsb_writer_t *w, int32_t v); /* low 24 bits, two's complement */
void wsb_put_f32(wsb_writer_t *w, float v);
void wsb_put_str(wsb_writer_t *w, const char *s); /* u8 length + bytes, max WSB_MAX_STRING */

/* Bounded little-endian reader. Reads past the end set error and return 0. */
typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    int error;
} wsb_reader_t;

void wsb_reader_init(wsb_reader_t *r, const uint8_t *buf, size_t len);
uint8_t wsb_get_u8(wsb_reader_t *r);
uint16_t wsb_get_u16(wsb_reader_t *r);
uint32_t wsb_get_u32(wsb_reader_t *r);
uint64_t wsb_get_u64(wsb_reader_t *r);
int16_t wsb_get_i16(wsb_reader_t *r);
int32_t wsb_get_i24(wsb_reader_t *r);
float wsb_get_f32(wsb_reader_t *r);
/* Copies a string into out (capacity cap, NUL-terminated); returns its length. */
size_t wsb_get_str(wsb_reader_t *r, char *out, size_t cap);

/* Bytes a sample of fmt takes, 0 for an unknown format. */
size_t wsb_format_size(uint8_t fmt);

/* Build one complete frame: COBS(header|payload|crc) + 0x00 into out.
 * Returns the number of bytes written, or 0 when out is too small or the
 * payload exceeds WSB_MAX_PAYLOAD. */
size_t wsb_frame_build(uint8_t *out, size_t cap, const wsb_header_t *h,
                       const uint8_t *payload, size_t payload_len);

/* Parse a decoded (un-COBSed) frame: checks length, CRC and major version.
 * On WSB_OK fills *h and points *payload into frame. */
int wsb_frame_parse(const uint8_t *frame, size_t len, wsb_header_t *h,
                    const uint8_t **payload, size_t *payload_len);

/* --- payload builders: each returns the payload length or 0 on overflow --- */

typedef struct {
    const char *name;
    const char *serial;
    uint8_t fw_major, fw_minor, fw_patch;
    uint8_t n_streams;
    uint32_t boot_id; /* changes at every boot, so the host sees resets */
} wsb_device_info_t;

typedef struct {
    uint8_t modality;      /* WSB_MOD_* */
    uint8_t format;        /* WSB_FMT_* */
    uint8_t n_channels;
    float rate_hz;         /* nominal sampling rate */
    const char *name;      /* stream name, e.g. "emg" */
    const char *const *labels; /* n_channels labels */
    const char *const *units;  /* n_channels units */
    const float *scale;        /* n_channels: physical value = raw * scale */
} wsb_stream_info_t;

size_t wsb_payload_hello_device(uint8_t *out, size_t cap, const wsb_device_info_t *d);
size_t wsb_payload_hello_stream(uint8_t *out, size_t cap, const wsb_stream_info_t *s);
/* DATA: n_samples x n_channels values, sample-major. raw_i32 is used for the
 * integer formats (range-checked), raw_f32 for WSB_FMT_FLOAT32. */
int wsb_payload_data(uint8_t *out, size_t cap, size_t *out_len, uint8_t format,
                     uint16_t n_samples, uint8_t n_channels, uint32_t period_q8,
                     const int32_t *raw_i32, const float *raw_f32);

typedef struct {
    uint16_t battery_mv;
    uint8_t battery_pct;   /* 255 = unknown */
    uint8_t tx_fill_pct;   /* transmit ring fill, percent */
    uint32_t overruns;     /* frames dropped because the transmit ring was full */
    uint32_t dropped_samples; /* samples lost on the device since boot */
    uint32_t rx_errors;    /* bad frames received from the host */
} wsb_status_t;

size_t wsb_payload_status(uint8_t *out, size_t cap, const wsb_status_t *s);
size_t wsb_payload_event(uint8_t *out, size_t cap, uint8_t code, int32_t value, const char *text);
size_t wsb_payload_time_sync_resp(uint8_t *out, size_t cap, uint32_t token, uint64_t host_send_us,
                                  uint64_t device_rx_us, uint64_t device_tx_us);
size_t wsb_payload_ack(uint8_t *out, size_t cap, uint8_t command, uint8_t status, uint32_t command_seq);
size_t wsb_payload_set_rate(uint8_t *out, size_t cap, float rate_hz);
size_t wsb_payload_time_sync_req(uint8_t *out, size_t cap, uint32_t token, uint64_t host_send_us);

/* --- streaming parser: feed bytes as they arrive --- */

typedef struct {
    uint8_t enc[WSB_MAX_ENCODED];
    size_t enc_len;
    int overflowing;       /* discarding bytes until the next delimiter */
    uint8_t frame[WSB_MAX_DECODED];
    size_t frame_len;
    wsb_header_t header;
    const uint8_t *payload;
    size_t payload_len;
    uint32_t frames_ok;
    uint32_t frames_bad;   /* COBS, CRC, length or version errors */
} wsb_parser_t;

enum { WSB_PARSE_NONE = 0, WSB_PARSE_FRAME = 1, WSB_PARSE_ERROR = 2 };

void wsb_parser_init(wsb_parser_t *p);
/* Returns WSB_PARSE_FRAME when byte completed a valid frame (then header,
 * payload and payload_len are set until the next call), WSB_PARSE_ERROR when it
 * completed a bad one, WSB_PARSE_NONE otherwise. Empty frames are ignored. */
int wsb_parser_feed(wsb_parser_t *p, uint8_t byte);

#ifdef __cplusplus
}
#endif

#endif /* WSB_FRAME_H */
