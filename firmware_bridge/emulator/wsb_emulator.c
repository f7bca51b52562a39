/* Emulated wearable: plays a firmware_bridge device on a pseudo-terminal.
 *
 * Built from the same C core as the firmware. Opens a pty, prints
 * "PTY <path>" on stdout, announces itself with HELLO, streams EMG + IMU
 * DATA frames from a waveform source or from a WSRAW file written by Python
 * (wearsense.devices.bridge.write_raw), honours START/STOP/SET_RATE/TIME_SYNC/
 * HELLO_REQ, and injects faults deterministically from --seed. Each boot (start,
 * --reset-at, a restart of the process) gets a new boot id unless --boot-id pins one
 * (to test hosts against boards that get this wrong). Device time can
 * run faster than the wall clock (--speed). Every fault and every lost frame is
 * written as one JSON line to --log, so tests can account for each sample.
 *
 * Run with --help for the options.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "wsb.h"

#define MAX_STREAMS 8
#define MAX_CH 32
#define RING_BYTES (1u << 21)
#define MAX_JUMPS 8

typedef struct {
    char name[WSB_MAX_STRING + 1];
    uint8_t modality, format, n_channels;
    float rate_hz;
    char labels[MAX_CH][WSB_MAX_STRING + 1];
    char units[MAX_CH][WSB_MAX_STRING + 1];
    float scale[MAX_CH];
    const char *label_ptr[MAX_CH];
    const char *unit_ptr[MAX_CH];
    /* source */
    int32_t *file_i32;
    float *file_f32;
    uint32_t file_n;
    /* run state */
    uint64_t k;          /* next sample index (seq), since boot */
    uint64_t k_start;    /* k at the last START */
    uint64_t k_end;      /* stop after this many samples (duration / file end) */
    uint16_t spf;        /* samples per frame */
    uint32_t period_q8;  /* sample period, 1/256 us */
} stream_t;

typedef struct {
    /* options */
    double speed, duration_s, exit_after_s, frame_ms, status_interval_s;
    double p_bitflip, p_dropbyte, p_truncate;
    double reset_at_s, unplug_at_s, unplug_for_s;
    double jump_at_s[MAX_JUMPS];
    long long jump_us[MAX_JUMPS];
    int n_jumps;
    int ts64, autostart, loop_file;
    int fixed_boot_id;       /* --boot-id given: every boot reports it (a faulty board) */
    uint32_t boot_id_opt;
    uint64_t seed;
    const char *link_path, *log_path, *source;
    int emg_channels, imus;
    double emg_rate, imu_rate;
    /* device */
    stream_t streams[MAX_STREAMS];
    int n_streams;
    char serial[32];
    uint32_t boot_id;
    uint32_t boot_salt;      /* per process: a restarted emulator is a new boot */
    double wall_boot;        /* wall time (s) at boot */
    uint64_t start_us;       /* device time of the last START */
    double started_wall;     /* wall time of the first START (for faults), <0 before */
    long long ts_offset_us;  /* accumulated clock jumps */
    int streaming;
    int resets_done, unplug_done;
    int jumps_done[MAX_JUMPS];
    uint64_t next_status_us;
    uint32_t ctrl_seq;
    wsb_status_t status;
    /* io */
    int master, slave;
    int tx_hold; /* after a replug: send nothing until the host speaks (like DTR) */
    char pty_path[128];
    wsb_ring_t ring;
    wsb_parser_t parser;
    FILE *log;
    uint64_t rng;
} emu_t;

static uint8_t ring_storage[RING_BYTES];
static emu_t E;
static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(void)
{
    uint64_t x = E.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    E.rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

/* Device time in us (true sampling clock, no jumps). */
static uint64_t device_us(void)
{
    double t = (wall_now() - E.wall_boot) * E.speed * 1e6;
    return t < 0 ? 0 : (uint64_t)t;
}

static void log_line(const char *fmt_json)
{
    if (E.log != NULL) {
        fputs(fmt_json, E.log);
        fputc('\n', E.log);
        fflush(E.log);
    }
}

static void log_frame(const char *event, int stream, uint64_t seq, unsigned n)
{
    char line[256];
    snprintf(line, sizeof line, "{\"event\":\"%s\",\"stream\":%d,\"seq\":%llu,\"n\":%u,\"boot\":%d}",
             event, stream, (unsigned long long)seq, n, E.resets_done);
    log_line(line);
}

/* ------------------------------------------------------------------ pty */

static int make_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        return -1;
    }
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    return tcsetattr(fd, TCSANOW, &t);
}

static int open_pty(void)
{
    const char *name;
    E.master = posix_openpt(O_RDWR | O_NOCTTY);
    if (E.master < 0 || grantpt(E.master) != 0 || unlockpt(E.master) != 0) {
        perror("posix_openpt");
        return -1;
    }
    name = ptsname(E.master);
    if (name == NULL) {
        perror("ptsname");
        return -1;
    }
    snprintf(E.pty_path, sizeof E.pty_path, "%s", name);
    /* Hold the slave open ourselves: the pty then survives the host closing
     * and reopening it, and we can put it in raw mode before anything is sent. */
    E.slave = open(E.pty_path, O_RDWR | O_NOCTTY);
    if (E.slave < 0 || make_raw(E.slave) != 0) {
        perror("open slave");
        return -1;
    }
    fcntl(E.master, F_SETFL, fcntl(E.master, F_GETFL) | O_NONBLOCK);
    if (E.link_path != NULL) {
        unlink(E.link_path);
        if (symlink(E.pty_path, E.link_path) != 0) {
            perror("symlink");
            return -1;
        }
    }
    return 0;
}

static void close_pty(void)
{
    if (E.link_path != NULL) {
        unlink(E.link_path);
    }
    if (E.master >= 0) {
        close(E.master);
    }
    if (E.slave >= 0) {
        close(E.slave);
    }
    E.master = E.slave = -1;
}

/* ------------------------------------------------------------------ tx */

static void flush_ring(void)
{
    static uint8_t chunk[4096];
    while (E.master >= 0 && !E.tx_hold && wsb_ring_used(&E.ring) > 0) {
        uint32_t n = wsb_ring_peek(&E.ring, chunk, sizeof chunk);
        ssize_t w = write(E.master, chunk, n);
        if (w <= 0) {
            break;
        }
        wsb_ring_consume(&E.ring, (uint32_t)w);
    }
}

/* Wait (up to max_s) until the host has read everything: the ring is empty and the
 * pty's input queue has stayed empty for 30 ms (bytes may still be on their way
 * from the master side to the slave's queue for a moment). */
static void drain(double max_s)
{
    double until = wall_now() + max_s;
    double empty_since = -1.0;
    while (wall_now() < until && E.master >= 0) {
        int waiting = 0;
        flush_ring();
        if (ioctl(E.slave, FIONREAD, &waiting) != 0) {
            waiting = 0;
        }
        if (wsb_ring_used(&E.ring) == 0 && waiting == 0) {
            if (empty_since < 0) {
                empty_since = wall_now();
            } else if (wall_now() - empty_since > 0.03) {
                return;
            }
        } else {
            empty_since = -1.0;
        }
        usleep(500);
    }
}

static uint64_t ts_field(uint64_t t_us)
{
    long long v = (long long)t_us + E.ts_offset_us;
    if (v < 0) {
        v = 0;
    }
    return E.ts64 ? (uint64_t)v : ((uint64_t)v & 0xFFFFFFFFull);
}

/* Build and queue a control frame; returns 0 on success. */
static int send_frame(uint8_t type, uint8_t stream, uint32_t seq, const uint8_t *payload, size_t len)
{
    uint8_t out[WSB_MAX_ENCODED];
    wsb_header_t h;
    size_t n;
    h.version = WSB_VERSION;
    h.type = type;
    h.stream = stream;
    h.flags = E.ts64 ? WSB_FLAG_TS64 : 0;
    h.seq = seq;
    h.timestamp_us = ts_field(device_us());
    n = wsb_frame_build(out, sizeof out, &h, payload, len);
    if (n == 0) {
        fprintf(stderr, "emulator: frame type 0x%02x too large\n", type);
        return -1;
    }
    return wsb_ring_write(&E.ring, out, (uint32_t)n) == n ? 0 : -1;
}

static void send_hello(void)
{
    uint8_t payload[WSB_MAX_PAYLOAD];
    static const uint8_t delim = 0;
    wsb_device_info_t d;
    int i;
    size_t n;
    wsb_ring_write(&E.ring, &delim, 1);
    d.name = "wearsense-emulator";
    d.serial = E.serial;
    d.fw_major = 1;
    d.fw_minor = 2;
    d.fw_patch = 0;
    d.n_streams = (uint8_t)E.n_streams;
    d.boot_id = E.boot_id;
    n = wsb_payload_hello_device(payload, sizeof payload, &d);
    send_frame(WSB_T_HELLO, WSB_STREAM_DEVICE, E.ctrl_seq++, payload, n);
    for (i = 0; i < E.n_streams; ++i) {
        stream_t *s = &E.streams[i];
        wsb_stream_info_t si;
        si.modality = s->modality;
        si.format = s->format;
        si.n_channels = s->n_channels;
        si.rate_hz = s->rate_hz;
        si.name = s->name;
        si.labels = s->label_ptr;
        si.units = s->unit_ptr;
        si.scale = s->scale;
        n = wsb_payload_hello_stream(payload, sizeof payload, &si);
        if (n == 0) {
            fprintf(stderr, "emulator: HELLO for stream %d does not fit a frame\n", i);
            continue;
        }
        send_frame(WSB_T_HELLO, (uint8_t)i, E.ctrl_seq++, payload, n);
    }
}

static void send_ack(uint8_t cmd, uint8_t status, uint32_t seq)
{
    uint8_t payload[16];
    size_t n = wsb_payload_ack(payload, sizeof payload, cmd, status, seq);
    send_frame(WSB_T_ACK, WSB_STREAM_DEVICE, E.ctrl_seq++, payload, n);
}

static void send_status(void)
{
    uint8_t payload[32];
    size_t n;
    uint64_t t = device_us();
    double hours = (double)t / 3.6e9;
    E.status.battery_mv = (uint16_t)(4150.0 - 300.0 * hours);
    E.status.battery_pct = (uint8_t)(hours < 10.0 ? 100.0 - 10.0 * hours : 0.0);
    E.status.tx_fill_pct = (uint8_t)(100u * wsb_ring_used(&E.ring) / wsb_ring_capacity(&E.ring));
    E.status.overruns = E.ring.overruns;
    n = wsb_payload_status(payload, sizeof payload, &E.status);
    send_frame(WSB_T_STATUS, WSB_STREAM_DEVICE, E.ctrl_seq++, payload, n);
}

/* ------------------------------------------------------------------ streams */

static void set_period(stream_t *s)
{
    size_t bytes = wsb_format_size(s->format) * s->n_channels;
    double spf = floor((double)s->rate_hz * E.frame_ms / 1000.0);
    double max_spf = (double)((WSB_MAX_PAYLOAD - 6u) / bytes);
    if (spf < 1) {
        spf = 1;
    }
    if (spf > max_spf) {
        spf = max_spf;
    }
    s->spf = (uint16_t)spf;
    s->period_q8 = (uint32_t)floor(256.0e6 / (double)s->rate_hz + 0.5);
}

/* Waveform source: integer triangle waves, reproducible exactly in Python:
 * v(k, c) = A * (|((k + 13 c) mod P) - P/2| * 4 / P - 1) with P = 40 + 8 c
 * evaluated in integers as A * (4 * |m - P/2| - P) / P (truncating division). */
static int32_t wave_value(const stream_t *s, uint64_t k, int c)
{
    int64_t P = 40 + 8 * c;
    int64_t m = (int64_t)((k + 13u * (uint64_t)c) % (uint64_t)P);
    int64_t A = s->format == WSB_FMT_INT24 ? 100000 : 10000;
    int64_t d = m - P / 2;
    if (d < 0) {
        d = -d;
    }
    return (int32_t)(A * (4 * d - P) / P);
}

static void add_stream(const char *name, uint8_t modality, uint8_t format, int n_ch, double rate,
                       const char *const *labels, const char *const *units, const float *scale)
{
    stream_t *s = &E.streams[E.n_streams++];
    int c;
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->modality = modality;
    s->format = format;
    s->n_channels = (uint8_t)n_ch;
    s->rate_hz = (float)rate;
    for (c = 0; c < n_ch; ++c) {
        snprintf(s->labels[c], sizeof s->labels[c], "%s", labels[c]);
        snprintf(s->units[c], sizeof s->units[c], "%s", units[c]);
        s->scale[c] = scale[c];
        s->label_ptr[c] = s->labels[c];
        s->unit_ptr[c] = s->units[c];
    }
}

static void wave_streams(void)
{
    char lab[MAX_CH][16];
    const char *labels[MAX_CH];
    const char *units[MAX_CH];
    float scale[MAX_CH];
    static const char *imu_names[9] = {"acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z",
                                       "mag_x", "mag_y", "mag_z"};
    static const char *imu_units[9] = {"m/s^2", "m/s^2", "m/s^2", "deg/s", "deg/s", "deg/s",
                                       "uT", "uT", "uT"};
    static const float imu_scale[9] = {4.7884e-3f, 4.7884e-3f, 4.7884e-3f, 6.1035e-2f, 6.1035e-2f,
                                       6.1035e-2f, 0.15f, 0.15f, 0.15f};
    int c, i;
    for (c = 0; c < E.emg_channels; ++c) {
        snprintf(lab[c], sizeof lab[c], "emg%d", c);
        labels[c] = lab[c];
        units[c] = "V";
        scale[c] = 2.2351741e-8f; /* ADS1299: 4.5 V / 24 / 2^23 */
    }
    if (E.emg_channels > 0) {
        add_stream("emg", WSB_MOD_EMG, WSB_FMT_INT24, E.emg_channels, E.emg_rate, labels, units, scale);
    }
    for (i = 0; i < E.imus && E.n_streams < MAX_STREAMS; ++i) {
        char name[16];
        snprintf(name, sizeof name, "imu%d", i);
        add_stream(name, WSB_MOD_IMU, WSB_FMT_INT16, 9, E.imu_rate, imu_names, imu_units, imu_scale);
    }
}

static int load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    static uint8_t hdr[65536];
    uint8_t magic[8];
    long start;
    wsb_reader_t r;
    int i, c;
    uint8_t n;
    if (f == NULL) {
        perror(path);
        return -1;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "WSRAW01\n", 8) != 0) {
        fprintf(stderr, "emulator: %s is not a WSRAW01 file\n", path);
        fclose(f);
        return -1;
    }
    start = ftell(f);
    if (fread(hdr, 1, sizeof hdr, f) == 0) {
        fclose(f);
        return -1;
    }
    wsb_reader_init(&r, hdr, sizeof hdr);
    n = wsb_get_u8(&r);
    if (n == 0 || n > MAX_STREAMS) {
        fprintf(stderr, "emulator: %s: bad stream count %u\n", path, n);
        fclose(f);
        return -1;
    }
    for (i = 0; i < n; ++i) {
        stream_t *s = &E.streams[E.n_streams++];
        memset(s, 0, sizeof *s);
        s->modality = wsb_get_u8(&r);
        s->format = wsb_get_u8(&r);
        s->n_channels = wsb_get_u8(&r);
        (void)wsb_get_u8(&r);
        s->rate_hz = wsb_get_f32(&r);
        wsb_get_str(&r, s->name, sizeof s->name);
        if (s->n_channels == 0 || s->n_channels > MAX_CH || wsb_format_size(s->format) == 0
            || !(s->rate_hz > 0.0f)) {
            fprintf(stderr, "emulator: %s: stream %d malformed\n", path, i);
            fclose(f);
            return -1;
        }
        for (c = 0; c < s->n_channels; ++c) {
            wsb_get_str(&r, s->labels[c], sizeof s->labels[c]);
            wsb_get_str(&r, s->units[c], sizeof s->units[c]);
            s->scale[c] = wsb_get_f32(&r);
            s->label_ptr[c] = s->labels[c];
            s->unit_ptr[c] = s->units[c];
        }
        s->file_n = wsb_get_u32(&r);
    }
    if (r.error) {
        fprintf(stderr, "emulator: %s: header truncated\n", path);
        fclose(f);
        return -1;
    }
    fseek(f, start + (long)r.pos, SEEK_SET);
    for (i = 0; i < E.n_streams; ++i) {
        stream_t *s = &E.streams[i];
        size_t count = (size_t)s->file_n * s->n_channels;
        size_t got;
        if (s->format == WSB_FMT_FLOAT32) {
            s->file_f32 = malloc(count * sizeof(float) + 1);
            got = fread(s->file_f32, sizeof(float), count, f);
        } else {
            s->file_i32 = malloc(count * sizeof(int32_t) + 1);
            got = fread(s->file_i32, sizeof(int32_t), count, f);
        }
        if (got != count) {
            fprintf(stderr, "emulator: %s: stream %d data truncated (%zu of %zu values)\n", path, i, got,
                    count);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static void compute_ends(void)
{
    int i;
    for (i = 0; i < E.n_streams; ++i) {
        stream_t *s = &E.streams[i];
        uint64_t end = UINT64_MAX;
        if (E.duration_s > 0) {
            end = s->k_start + (uint64_t)floor(E.duration_s * (double)s->rate_hz + 1e-9);
        }
        if ((s->file_i32 != NULL || s->file_f32 != NULL) && !E.loop_file && s->file_n < end) {
            end = s->file_n;
        }
        s->k_end = end;
    }
}

static void emit_frames(uint64_t now_us)
{
    int i;
    for (i = 0; i < E.n_streams; ++i) {
        stream_t *s = &E.streams[i];
        int budget = 256;
        while (budget-- > 0 && s->k < s->k_end) {
            static int32_t vi[WSB_MAX_PAYLOAD];
            static float vf[WSB_MAX_PAYLOAD];
            uint8_t payload[WSB_MAX_PAYLOAD];
            uint8_t out[WSB_MAX_ENCODED + 8];
            uint64_t n = s->spf;
            uint64_t rel = s->k - s->k_start;
            uint64_t j;
            size_t plen = 0, len;
            wsb_header_t h;
            uint64_t t_first, t_last;
            int c;
            if (s->k + n > s->k_end) {
                n = s->k_end - s->k;
            }
            t_first = E.start_us + (rel * s->period_q8) / 256u;
            t_last = E.start_us + ((rel + n - 1) * s->period_q8) / 256u;
            if (t_last > now_us) {
                break;
            }
            for (j = 0; j < n; ++j) {
                uint64_t kk = s->k + j;
                for (c = 0; c < s->n_channels; ++c) {
                    size_t at = (size_t)(j * s->n_channels + (uint64_t)c);
                    if (s->file_i32 != NULL || s->file_f32 != NULL) {
                        uint64_t src = (kk % s->file_n) * s->n_channels + (uint64_t)c;
                        if (s->file_f32 != NULL) {
                            vf[at] = s->file_f32[src];
                        } else {
                            vi[at] = s->file_i32[src];
                        }
                    } else {
                        vi[at] = wave_value(s, kk, c);
                        vf[at] = (float)vi[at];
                    }
                }
            }
            if (wsb_payload_data(payload, sizeof payload, &plen, s->format, (uint16_t)n, s->n_channels,
                                 s->period_q8, vi, vf) != WSB_OK) {
                fprintf(stderr, "emulator: stream %d sample out of range for its format\n", i);
                stop_flag = 1;
                return;
            }
            h.version = WSB_VERSION;
            h.type = WSB_T_DATA;
            h.stream = (uint8_t)i;
            h.flags = E.ts64 ? WSB_FLAG_TS64 : 0;
            h.seq = (uint32_t)s->k;
            h.timestamp_us = ts_field(t_first);
            len = wsb_frame_build(out, sizeof out, &h, payload, plen);
            if (E.master < 0) {
                log_frame("unplugged", i, s->k, (unsigned)n);
                E.status.dropped_samples += (uint32_t)n;
            } else {
                double u = rng_unit();
                const char *fault = NULL;
                if (u < E.p_bitflip) {
                    size_t at = (size_t)(rng_next() % (len - 1));
                    unsigned bit = (unsigned)(rng_next() % 8u);
                    if ((out[at] ^ (uint8_t)(1u << bit)) == 0) {
                        bit = (bit + 1u) % 8u;
                    }
                    out[at] ^= (uint8_t)(1u << bit);
                    fault = "bitflip";
                } else if (u < E.p_bitflip + E.p_dropbyte) {
                    size_t at = (size_t)(rng_next() % (len - 1));
                    memmove(out + at, out + at + 1, len - at - 1);
                    len -= 1;
                    fault = "dropbyte";
                } else if (u < E.p_bitflip + E.p_dropbyte + E.p_truncate) {
                    size_t keep = 1 + (size_t)(rng_next() % (len - 2));
                    out[keep] = 0;
                    len = keep + 1;
                    fault = "truncate";
                }
                if (wsb_ring_write(&E.ring, out, (uint32_t)len) != len) {
                    log_frame("overrun", i, s->k, (unsigned)n);
                    E.status.dropped_samples += (uint32_t)n;
                } else if (fault != NULL) {
                    log_frame(fault, i, s->k, (unsigned)n);
                }
            }
            s->k += n;
        }
    }
}

/* ------------------------------------------------------------------ commands */

static void start_streaming(void)
{
    int i;
    if (E.streaming) {
        return;
    }
    E.streaming = 1;
    E.start_us = device_us();
    E.next_status_us = E.start_us;
    if (E.started_wall < 0) {
        E.started_wall = wall_now();
    }
    for (i = 0; i < E.n_streams; ++i) {
        E.streams[i].k_start = E.streams[i].k;
    }
    compute_ends();
}

static void handle_command(const wsb_header_t *h, const uint8_t *payload, size_t len)
{
    wsb_reader_t r;
    wsb_reader_init(&r, payload, len);
    switch (h->type) {
    case WSB_T_START:
        start_streaming();
        send_ack(h->type, WSB_ACK_OK, h->seq);
        break;
    case WSB_T_STOP:
        E.streaming = 0;
        send_ack(h->type, WSB_ACK_OK, h->seq);
        break;
    case WSB_T_HELLO_REQ:
        send_hello();
        break;
    case WSB_T_SET_RATE: {
        float rate = wsb_get_f32(&r);
        if (r.error || h->stream >= E.n_streams || !(rate > 0.0f) || rate > 32000.0f) {
            send_ack(h->type, WSB_ACK_BAD_ARG, h->seq);
        } else if (E.streaming) {
            send_ack(h->type, WSB_ACK_BAD_STATE, h->seq);
        } else {
            E.streams[h->stream].rate_hz = rate;
            set_period(&E.streams[h->stream]);
            send_ack(h->type, WSB_ACK_OK, h->seq);
            send_hello();
        }
        break;
    }
    case WSB_T_TIME_SYNC_REQ: {
        uint8_t out[64];
        uint32_t token = wsb_get_u32(&r);
        uint64_t host_send = wsb_get_u64(&r);
        uint64_t rx = ts_field(device_us());
        size_t n;
        if (r.error) {
            send_ack(h->type, WSB_ACK_BAD_ARG, h->seq);
            break;
        }
        n = wsb_payload_time_sync_resp(out, sizeof out, token, host_send, rx, ts_field(device_us()));
        send_frame(WSB_T_TIME_SYNC_RESP, WSB_STREAM_DEVICE, E.ctrl_seq++, out, n);
        break;
    }
    default:
        send_ack(h->type, WSB_ACK_UNSUPPORTED, h->seq);
        break;
    }
}

static void read_commands(void)
{
    uint8_t buf[512];
    ssize_t n;
    while (E.master >= 0 && (n = read(E.master, buf, sizeof buf)) > 0) {
        ssize_t i;
        for (i = 0; i < n; ++i) {
            int res = wsb_parser_feed(&E.parser, buf[i]);
            if (res == WSB_PARSE_FRAME) {
                E.tx_hold = 0;
                handle_command(&E.parser.header, E.parser.payload, E.parser.payload_len);
            } else if (res == WSB_PARSE_ERROR) {
                E.status.rx_errors++;
            }
        }
    }
}

/* ------------------------------------------------------------------ faults */

/* Entropy that differs between runs of the emulator (PROTOCOL.md: the boot id differs
 * at every boot, and a restarted process is a new boot even with the same --seed). */
static uint32_t process_salt(void)
{
    uint32_t salt = 0;
    struct timespec ts;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(&salt, sizeof salt, 1, f) != 1) {
            salt = 0;
        }
        fclose(f);
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    return salt ^ (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16);
}

static void boot(void)
{
    int i;
    uint32_t previous = E.boot_id;
    if (E.fixed_boot_id) {
        E.boot_id = E.boot_id_opt;
    } else {
        do {
            E.boot_id = (uint32_t)rng_next() ^ E.boot_salt;
        } while (E.boot_id == previous);
    }
    {
        char line[96];
        snprintf(line, sizeof line, "{\"event\":\"boot\",\"boot_id\":%lu}", (unsigned long)E.boot_id);
        log_line(line);
    }
    E.wall_boot = wall_now();
    E.ts_offset_us = 0;
    E.streaming = 0;
    E.ctrl_seq = 0;
    memset(&E.status, 0, sizeof E.status);
    wsb_parser_init(&E.parser);
    for (i = 0; i < E.n_streams; ++i) {
        E.streams[i].k = 0;
        E.streams[i].k_start = 0;
        E.streams[i].k_end = UINT64_MAX;
    }
    send_hello();
}

static void do_reset(void)
{
    uint8_t out[WSB_MAX_ENCODED];
    stream_t *s = &E.streams[0];
    uint8_t payload[WSB_MAX_PAYLOAD];
    static int32_t vi[WSB_MAX_PAYLOAD];
    static float vf[WSB_MAX_PAYLOAD];
    size_t plen = 0, len;
    wsb_header_t h;
    /* let the host read everything, then cut the next frame of stream 0 in half and reboot */
    drain(2.0);
    memset(vi, 0, sizeof vi);
    memset(vf, 0, sizeof vf);
    wsb_payload_data(payload, sizeof payload, &plen, s->format, s->spf, s->n_channels, s->period_q8, vi,
                     vf);
    h.version = WSB_VERSION;
    h.type = WSB_T_DATA;
    h.stream = 0;
    h.flags = E.ts64 ? WSB_FLAG_TS64 : 0;
    h.seq = (uint32_t)s->k;
    h.timestamp_us = ts_field(device_us());
    len = wsb_frame_build(out, sizeof out, &h, payload, plen);
    wsb_ring_write(&E.ring, out, (uint32_t)(len / 2));
    log_frame("reset_truncated", 0, s->k, s->spf);
    flush_ring();
    E.resets_done++;
    log_line("{\"event\":\"reset\"}");
    boot();
}

static void check_faults(void)
{
    double since;
    int j;
    if (E.started_wall < 0) {
        return;
    }
    since = (wall_now() - E.started_wall) * E.speed;
    if (E.reset_at_s > 0 && !E.resets_done && since >= E.reset_at_s) {
        do_reset();
    }
    for (j = 0; j < E.n_jumps; ++j) {
        if (!E.jumps_done[j] && since >= E.jump_at_s[j]) {
            char line[128];
            E.jumps_done[j] = 1;
            E.ts_offset_us += E.jump_us[j];
            snprintf(line, sizeof line, "{\"event\":\"clock_jump\",\"us\":%lld}", E.jump_us[j]);
            log_line(line);
        }
    }
    if (E.unplug_at_s > 0 && !E.unplug_done && since >= E.unplug_at_s) {
        double until;
        E.unplug_done = 1;
        log_line("{\"event\":\"unplug\"}");
        /* let what is queued reach the host first, so every lost frame is logged */
        drain(2.0);
        close_pty();
        until = wall_now() + E.unplug_for_s;
        while (wall_now() < until && !stop_flag) {
            if (E.streaming) {
                emit_frames(device_us());
            }
            usleep(1000);
        }
        if (open_pty() != 0) {
            stop_flag = 1;
            return;
        }
        log_line("{\"event\":\"replug\"}");
        E.tx_hold = 1;
        printf("PTY %s\n", E.pty_path);
        fflush(stdout);
        send_hello();
    }
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    puts("usage: wsb_emulator [options]\n"
         "  --link PATH          keep a symlink to the pty at PATH (stable across unplug)\n"
         "  --source wave|FILE   waveform source (default) or a WSRAW01 file\n"
         "  --loop               loop the file instead of stopping at its end\n"
         "  --emg-channels N     EMG channels for the wave source (default 8, 0 = none)\n"
         "  --emg-rate HZ        EMG rate (default 2000)\n"
         "  --imus N             IMUs for the wave source (default 2)\n"
         "  --imu-rate HZ        IMU rate (default 200)\n"
         "  --frame-ms MS        samples per DATA frame, in ms (default 10)\n"
         "  --speed X            device time runs X times the wall clock (default 1)\n"
         "  --duration S         stream S device seconds after START, then idle\n"
         "  --exit-after S       exit after S wall seconds\n"
         "  --autostart          stream without waiting for START\n"
         "  --ts64               64-bit timestamps\n"
         "  --status-interval S  STATUS period in device seconds (default 0.5)\n"
         "  --seed N             seed for faults and the serial number (default 1)\n"
         "  --boot-id N          report boot id N at every boot, restarts included (a board that\n"
         "                       breaks PROTOCOL.md's rule that it differs at every boot; default:\n"
         "                       a fresh id per boot, different in every run of the emulator)\n"
         "  --bitflip P          probability per DATA frame of a flipped bit\n"
         "  --dropbyte P         probability per DATA frame of a dropped byte\n"
         "  --truncate P         probability per DATA frame of truncation\n"
         "  --reset-at S         reset the device S device seconds after the first START\n"
         "  --clock-jump S:US    add US microseconds to the timestamps at S device seconds (repeatable)\n"
         "  --unplug-at S        close the pty at S device seconds after the first START\n"
         "  --unplug-for S       ... and open a new one S wall seconds later (default 0.5)\n"
         "  --log PATH           JSON lines: every fault and every frame lost");
}

static int parse_args(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && (++i, 1))
        if (strcmp(a, "--help") == 0) {
            usage();
            exit(0);
        } else if (strcmp(a, "--autostart") == 0) {
            E.autostart = 1;
        } else if (strcmp(a, "--ts64") == 0) {
            E.ts64 = 1;
        } else if (strcmp(a, "--loop") == 0) {
            E.loop_file = 1;
        } else if (OPT("--link")) {
            E.link_path = v;
        } else if (OPT("--source")) {
            E.source = v;
        } else if (OPT("--emg-channels")) {
            E.emg_channels = atoi(v);
        } else if (OPT("--emg-rate")) {
            E.emg_rate = atof(v);
        } else if (OPT("--imus")) {
            E.imus = atoi(v);
        } else if (OPT("--imu-rate")) {
            E.imu_rate = atof(v);
        } else if (OPT("--frame-ms")) {
            E.frame_ms = atof(v);
        } else if (OPT("--speed")) {
            E.speed = atof(v);
        } else if (OPT("--duration")) {
            E.duration_s = atof(v);
        } else if (OPT("--exit-after")) {
            E.exit_after_s = atof(v);
        } else if (OPT("--status-interval")) {
            E.status_interval_s = atof(v);
        } else if (OPT("--seed")) {
            E.seed = strtoull(v, NULL, 10);
        } else if (OPT("--boot-id")) {
            char *end = NULL;
            unsigned long long id = strtoull(v, &end, 0);
            if (end == v || *end != '\0' || id > 0xFFFFFFFFull) {
                fprintf(stderr, "emulator: --boot-id wants a 32-bit number, e.g. 7 or 0x1234abcd\n");
                return -1;
            }
            E.fixed_boot_id = 1;
            E.boot_id_opt = (uint32_t)id;
        } else if (OPT("--bitflip")) {
            E.p_bitflip = atof(v);
        } else if (OPT("--dropbyte")) {
            E.p_dropbyte = atof(v);
        } else if (OPT("--truncate")) {
            E.p_truncate = atof(v);
        } else if (OPT("--reset-at")) {
            E.reset_at_s = atof(v);
        } else if (OPT("--clock-jump")) {
            const char *colon = strchr(v, ':');
            if (colon == NULL || E.n_jumps >= MAX_JUMPS) {
                fprintf(stderr, "emulator: --clock-jump wants S:US, e.g. 2.0:-500000\n");
                return -1;
            }
            E.jump_at_s[E.n_jumps] = atof(v);
            E.jump_us[E.n_jumps] = atoll(colon + 1);
            E.n_jumps++;
        } else if (OPT("--unplug-at")) {
            E.unplug_at_s = atof(v);
        } else if (OPT("--unplug-for")) {
            E.unplug_for_s = atof(v);
        } else if (OPT("--log")) {
            E.log_path = v;
        } else {
            fprintf(stderr, "emulator: unknown or incomplete option %s (see --help)\n", a);
            return -1;
        }
#undef OPT
    }
    if (E.emg_channels < 0 || E.emg_channels > MAX_CH || E.imus < 0 || E.speed <= 0 || E.frame_ms <= 0
        || E.emg_rate <= 0 || E.imu_rate <= 0) {
        fprintf(stderr, "emulator: option out of range (see --help)\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    double wall_start;
    int i;
    memset(&E, 0, sizeof E);
    E.speed = 1.0;
    E.frame_ms = 10.0;
    E.status_interval_s = 0.5;
    E.seed = 1;
    E.emg_channels = 8;
    E.imus = 2;
    E.emg_rate = 2000.0;
    E.imu_rate = 200.0;
    E.unplug_for_s = 0.5;
    E.started_wall = -1.0;
    E.master = E.slave = -1;
    E.source = "wave";
    if (parse_args(argc, argv) != 0) {
        return 2;
    }
    E.rng = E.seed * 0x9E3779B97F4A7C15ULL + 1u;
    E.boot_salt = process_salt();
    snprintf(E.serial, sizeof E.serial, "EMU-%08X", (unsigned)(rng_next() & 0xFFFFFFFFu));
    if (strcmp(E.source, "wave") == 0) {
        wave_streams();
    } else if (load_file(E.source) != 0) {
        return 2;
    }
    for (i = 0; i < E.n_streams; ++i) {
        set_period(&E.streams[i]);
    }
    if (E.log_path != NULL) {
        E.log = fopen(E.log_path, "w");
        if (E.log == NULL) {
            perror(E.log_path);
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    wsb_ring_init(&E.ring, ring_storage, RING_BYTES);
    if (open_pty() != 0) {
        return 1;
    }
    printf("PTY %s\n", E.pty_path);
    fflush(stdout);
    boot();
    if (E.autostart) {
        start_streaming();
    }
    wall_start = wall_now();
    while (!stop_flag) {
        struct pollfd pfd;
        uint64_t now;
        if (E.exit_after_s > 0 && wall_now() - wall_start > E.exit_after_s) {
            break;
        }
        read_commands();
        check_faults();
        now = device_us();
        if (E.streaming) {
            emit_frames(now);
            if (now >= E.next_status_us) {
                send_status();
                E.next_status_us = now + (uint64_t)(E.status_interval_s * 1e6);
            }
        }
        flush_ring();
        pfd.fd = E.master;
        pfd.events = POLLIN;
        if (wsb_ring_used(&E.ring) > 0) {
            pfd.events |= POLLOUT;
        }
        pfd.revents = 0;
        if (poll(&pfd, 1, 1) < 0 && errno != EINTR) {
            break;
        }
    }
    flush_ring();
    if (E.log != NULL) {
        fprintf(E.log, "{\"event\":\"exit\",\"overruns\":%u}\n", (unsigned)E.ring.overruns);
        fclose(E.log);
    }
    close_pty();
    for (i = 0; i < E.n_streams; ++i) {
        free(E.streams[i].file_i32);
        free(E.streams[i].file_f32);
    }
    return 0;
}
