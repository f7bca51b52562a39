/* ESP32 + ADS1299 (8-channel EMG, 24-bit) + ICM-42688-P (6-axis IMU), streaming the
 * firmware_bridge protocol over the USB-UART (UART0, 921600 baud).
 *
 * ESP-IDF 5.x application (idf.py build flash). On the host it compiles against the
 * stub headers in ../stub (make example), which also simulate the chips, so CI checks
 * that it builds and speaks the protocol.
 *
 * Tasks: the DRDY interrupt of the ADS1299 wakes acq_task (producer: reads the EMG
 * sample over SPI, every 10th sample also the IMU, packs DATA frames into the
 * lock-free ring); io_task (consumer: drains the ring to the UART, parses host
 * commands, answers HELLO/ACK/TIME_SYNC, sends STATUS).
 *
 * Wiring (VSPI): SCLK 18, MOSI 23, MISO 19, ADS1299 CS 5, ICM-42688 CS 17,
 * ADS1299 DRDY 4, ADS1299 START 16, ADS1299 RESET 2, ADS1299 PWDN 15 (tied high).
 */
#include <string.h>

#include "driver/gpio.h"
#include "driver/spi_master.h"
#include "driver/uart.h"
#include "esp_timer.h"
#include "firmware.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "wsb.h"

#define PIN_SCLK 18
#define PIN_MOSI 23
#define PIN_MISO 19
#define PIN_CS_ADS 5
#define PIN_CS_IMU 17
#define PIN_DRDY 4
#define PIN_START 16
#define PIN_RESET 2
#define UART_PORT UART_NUM_0
#define UART_BAUD 921600

#define EMG_CH 8
#define EMG_SPF 20 /* samples per DATA frame: 10 ms at 2 kHz */
#define IMU_CH 6
#define IMU_DIV 10 /* IMU at 2000 / 10 = 200 Hz */
#define IMU_SPF 2

/* ADS1299 opcodes and registers (datasheet SBAS499C, section 9.5) */
#define ADS_SDATAC 0x11
#define ADS_RDATAC 0x10
#define ADS_START 0x08
#define ADS_WREG 0x40
#define ADS_CONFIG1 0x01
#define ADS_CONFIG3 0x03
#define ADS_CH1SET 0x05
#define ADS_CONFIG1_2KSPS 0x93 /* 0x90 | DR=011 -> 2 kSPS */
#define ADS_CHSET_GAIN24 0x60
/* ICM-42688-P (datasheet DS-000347, section 14) */
#define ICM_PWR_MGMT0 0x4E
#define ICM_GYRO_CONFIG0 0x4F
#define ICM_ACCEL_CONFIG0 0x50
#define ICM_ACCEL_DATA_X1 0x1F

static const char *emg_labels[EMG_CH] = {"emg0", "emg1", "emg2", "emg3", "emg4", "emg5", "emg6", "emg7"};
static const char *emg_units[EMG_CH] = {"V", "V", "V", "V", "V", "V", "V", "V"};
static const float emg_scale[EMG_CH] = {2.2351741e-8f, 2.2351741e-8f, 2.2351741e-8f, 2.2351741e-8f,
                                        2.2351741e-8f, 2.2351741e-8f, 2.2351741e-8f, 2.2351741e-8f};
static const char *imu_labels[IMU_CH] = {"acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"};
static const char *imu_units[IMU_CH] = {"m/s^2", "m/s^2", "m/s^2", "deg/s", "deg/s", "deg/s"};
/* +-16 g: 9.80665 * 16 / 32768; +-2000 dps: 2000 / 32768 */
static const float imu_scale[IMU_CH] = {4.7884e-3f, 4.7884e-3f, 4.7884e-3f, 6.1035e-2f, 6.1035e-2f, 6.1035e-2f};

static spi_device_handle_t ads_dev, imu_dev;
static TaskHandle_t acq_handle;
static uint8_t ring_storage[16384];
static wsb_ring_t ring;
static volatile int streaming;
static float emg_rate = 2000.0f;
static uint32_t boot_id;
static uint32_t ctrl_seq;
static wsb_status_t status;

static uint64_t now_us(void)
{
    return (uint64_t)esp_timer_get_time();
}

static void spi_xfer(spi_device_handle_t dev, const uint8_t *tx, uint8_t *rx, size_t n)
{
    spi_transaction_t t;
    memset(&t, 0, sizeof t);
    t.length = n * 8;
    t.tx_buffer = tx;
    t.rx_buffer = rx;
    spi_device_polling_transmit(dev, &t);
}

static void ads_command(uint8_t op)
{
    spi_xfer(ads_dev, &op, NULL, 1);
}

static void ads_write_reg(uint8_t reg, uint8_t value)
{
    uint8_t tx[3];
    tx[0] = (uint8_t)(ADS_WREG | reg);
    tx[1] = 0;
    tx[2] = value;
    spi_xfer(ads_dev, tx, NULL, 3);
}

static void imu_write_reg(uint8_t reg, uint8_t value)
{
    uint8_t tx[2];
    tx[0] = reg;
    tx[1] = value;
    spi_xfer(imu_dev, tx, NULL, 2);
}

static void IRAM_ATTR drdy_isr(void *arg)
{
    BaseType_t woken = pdFALSE;
    (void)arg;
    vTaskNotifyGiveFromISR(acq_handle, &woken);
    portYIELD_FROM_ISR(woken);
}

/* Control frames are written by the consumer (io_task) straight to the UART,
 * between whole frames from the ring, so the ring keeps one producer. */
static void send_now(uint8_t type, uint8_t stream, const uint8_t *payload, size_t len)
{
    uint8_t out[WSB_MAX_ENCODED];
    wsb_header_t h;
    size_t n;
    h.version = WSB_VERSION;
    h.type = type;
    h.stream = stream;
    h.flags = WSB_FLAG_TS64;
    h.seq = ctrl_seq++;
    h.timestamp_us = now_us();
    n = wsb_frame_build(out, sizeof out, &h, payload, len);
    if (n > 0) {
        uart_write_bytes(UART_PORT, out, n);
    }
}

static void send_hello(void)
{
    static const uint8_t delim = 0;
    uint8_t p[WSB_MAX_PAYLOAD];
    size_t n;
    wsb_device_info_t d;
    wsb_stream_info_t s;
    uart_write_bytes(UART_PORT, &delim, 1);
    d.name = "esp32-ads1299";
    d.serial = "ESP32-0001";
    d.fw_major = 1;
    d.fw_minor = 0;
    d.fw_patch = 0;
    d.n_streams = 2;
    d.boot_id = boot_id;
    n = wsb_payload_hello_device(p, sizeof p, &d);
    send_now(WSB_T_HELLO, WSB_STREAM_DEVICE, p, n);
    s.modality = WSB_MOD_EMG;
    s.format = WSB_FMT_INT24;
    s.n_channels = EMG_CH;
    s.rate_hz = emg_rate;
    s.name = "emg";
    s.labels = emg_labels;
    s.units = emg_units;
    s.scale = emg_scale;
    n = wsb_payload_hello_stream(p, sizeof p, &s);
    send_now(WSB_T_HELLO, 0, p, n);
    s.modality = WSB_MOD_IMU;
    s.format = WSB_FMT_INT16;
    s.n_channels = IMU_CH;
    s.rate_hz = emg_rate / IMU_DIV;
    s.name = "imu0";
    s.labels = imu_labels;
    s.units = imu_units;
    s.scale = imu_scale;
    n = wsb_payload_hello_stream(p, sizeof p, &s);
    send_now(WSB_T_HELLO, 1, p, n);
}

static void queue_data(uint8_t stream, uint8_t format, uint8_t n_ch, uint32_t seq, uint64_t t_us,
                       uint16_t n, uint32_t period_q8, const int32_t *values)
{
    uint8_t p[WSB_MAX_PAYLOAD];
    uint8_t out[WSB_MAX_ENCODED];
    size_t plen = 0, len;
    wsb_header_t h;
    if (wsb_payload_data(p, sizeof p, &plen, format, n, n_ch, period_q8, values, NULL) != WSB_OK) {
        return;
    }
    h.version = WSB_VERSION;
    h.type = WSB_T_DATA;
    h.stream = stream;
    h.flags = 0;
    h.seq = seq;
    h.timestamp_us = t_us;
    len = wsb_frame_build(out, sizeof out, &h, p, plen);
    if (len == 0 || wsb_ring_write(&ring, out, (uint32_t)len) == 0) {
        status.dropped_samples += n;
    }
}

static void acq_task(void *arg)
{
    static int32_t emg[EMG_SPF * EMG_CH];
    static int32_t imu[IMU_SPF * IMU_CH];
    uint32_t emg_seq = 0, imu_seq = 0, k = 0;
    uint64_t emg_t0 = 0, imu_t0 = 0;
    (void)arg;
    for (;;) {
        uint8_t rx[27];
        uint8_t tx[27];
        uint64_t t;
        int c;
        uint32_t i = k % EMG_SPF;
        ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
        t = now_us();
        memset(tx, 0, sizeof tx);
        spi_xfer(ads_dev, tx, rx, sizeof rx); /* 3 status bytes + 8 x 24-bit, MSB first */
        if (!streaming) {
            continue;
        }
        if (i == 0) {
            emg_t0 = t;
        }
        for (c = 0; c < EMG_CH; ++c) {
            const uint8_t *b = rx + 3 + 3 * c;
            int32_t v = (int32_t)(((uint32_t)b[0] << 16) | ((uint32_t)b[1] << 8) | b[2]);
            emg[i * EMG_CH + (uint32_t)c] = (v & 0x800000) ? v - 0x1000000 : v;
        }
        if (k % IMU_DIV == 0) {
            uint8_t itx[13], irx[13];
            uint32_t j = (k / IMU_DIV) % IMU_SPF;
            memset(itx, 0, sizeof itx);
            itx[0] = 0x80 | ICM_ACCEL_DATA_X1; /* read burst: accel x,y,z then gyro x,y,z */
            spi_xfer(imu_dev, itx, irx, sizeof irx);
            if (j == 0) {
                imu_t0 = t;
            }
            for (c = 0; c < IMU_CH; ++c) {
                imu[j * IMU_CH + (uint32_t)c] = (int16_t)((irx[1 + 2 * c] << 8) | irx[2 + 2 * c]);
            }
            if (j == IMU_SPF - 1) {
                queue_data(1, WSB_FMT_INT16, IMU_CH, imu_seq, imu_t0, IMU_SPF,
                           (uint32_t)(256.0e6f / (emg_rate / IMU_DIV)), imu);
                imu_seq += IMU_SPF;
            }
        }
        if (i == EMG_SPF - 1) {
            queue_data(0, WSB_FMT_INT24, EMG_CH, emg_seq, emg_t0, EMG_SPF, (uint32_t)(256.0e6f / emg_rate), emg);
            emg_seq += EMG_SPF;
        }
        ++k;
    }
}

static void handle_command(const wsb_header_t *h, const uint8_t *payload, size_t len)
{
    uint8_t p[64];
    size_t n;
    wsb_reader_t r;
    wsb_reader_init(&r, payload, len);
    switch (h->type) {
    case WSB_T_START:
        streaming = 1;
        n = wsb_payload_ack(p, sizeof p, h->type, WSB_ACK_OK, h->seq);
        send_now(WSB_T_ACK, WSB_STREAM_DEVICE, p, n);
        break;
    case WSB_T_STOP:
        streaming = 0;
        n = wsb_payload_ack(p, sizeof p, h->type, WSB_ACK_OK, h->seq);
        send_now(WSB_T_ACK, WSB_STREAM_DEVICE, p, n);
        break;
    case WSB_T_HELLO_REQ:
        send_hello();
        break;
    case WSB_T_TIME_SYNC_REQ: {
        uint64_t rx = now_us();
        uint32_t token = wsb_get_u32(&r);
        uint64_t host = wsb_get_u64(&r);
        n = wsb_payload_time_sync_resp(p, sizeof p, token, host, rx, now_us());
        send_now(WSB_T_TIME_SYNC_RESP, WSB_STREAM_DEVICE, p, n);
        break;
    }
    case WSB_T_SET_RATE: {
        float rate = wsb_get_f32(&r);
        /* ADS1299 rates: 250 * 2^k up to 16 kSPS; only 2 kSPS keeps the IMU divider exact here */
        uint8_t st = (r.error || rate != 2000.0f) ? WSB_ACK_BAD_ARG : (streaming ? WSB_ACK_BAD_STATE : WSB_ACK_OK);
        n = wsb_payload_ack(p, sizeof p, h->type, st, h->seq);
        send_now(WSB_T_ACK, WSB_STREAM_DEVICE, p, n);
        if (st == WSB_ACK_OK) {
            send_hello();
        }
        break;
    }
    default:
        n = wsb_payload_ack(p, sizeof p, h->type, WSB_ACK_UNSUPPORTED, h->seq);
        send_now(WSB_T_ACK, WSB_STREAM_DEVICE, p, n);
        break;
    }
}

static void io_task(void *arg)
{
    static wsb_parser_t parser;
    static uint8_t chunk[1024];
    uint64_t next_status = 0;
    (void)arg;
    wsb_parser_init(&parser);
    send_hello();
    for (;;) {
        uint8_t in[128];
        int got, i;
        uint32_t n;
        while ((n = wsb_ring_read(&ring, chunk, sizeof chunk)) > 0) {
            uart_write_bytes(UART_PORT, chunk, n);
        }
        got = uart_read_bytes(UART_PORT, in, sizeof in, 1);
        for (i = 0; i < got; ++i) {
            int res = wsb_parser_feed(&parser, in[i]);
            if (res == WSB_PARSE_FRAME) {
                handle_command(&parser.header, parser.payload, parser.payload_len);
            } else if (res == WSB_PARSE_ERROR) {
                status.rx_errors++;
            }
        }
        if (streaming && now_us() >= next_status) {
            uint8_t p[32];
            size_t len;
            status.battery_pct = 255;
            status.overruns = ring.overruns;
            status.tx_fill_pct = (uint8_t)(100u * wsb_ring_used(&ring) / wsb_ring_capacity(&ring));
            len = wsb_payload_status(p, sizeof p, &status);
            send_now(WSB_T_STATUS, WSB_STREAM_DEVICE, p, len);
            next_status = now_us() + 1000000u;
        }
    }
}

void app_main(void)
{
    spi_bus_config_t bus;
    spi_device_interface_config_t ads_cfg, imu_cfg;
    uart_config_t uart;
    gpio_config_t io;
    int c;

    memset(&uart, 0, sizeof uart);
    uart.baud_rate = UART_BAUD;
    uart.data_bits = UART_DATA_8_BITS;
    uart.parity = UART_PARITY_DISABLE;
    uart.stop_bits = UART_STOP_BITS_1;
    uart.flow_ctrl = UART_HW_FLOWCTRL_DISABLE;
    uart_driver_install(UART_PORT, 4096, 16384, 0, NULL, 0);
    uart_param_config(UART_PORT, &uart);

    memset(&bus, 0, sizeof bus);
    bus.mosi_io_num = PIN_MOSI;
    bus.miso_io_num = PIN_MISO;
    bus.sclk_io_num = PIN_SCLK;
    bus.quadwp_io_num = -1;
    bus.quadhd_io_num = -1;
    spi_bus_initialize(SPI3_HOST, &bus, SPI_DMA_CH_AUTO);
    memset(&ads_cfg, 0, sizeof ads_cfg);
    ads_cfg.clock_speed_hz = 4000000;
    ads_cfg.mode = 1; /* ADS1299: CPOL 0, CPHA 1 */
    ads_cfg.spics_io_num = PIN_CS_ADS;
    ads_cfg.queue_size = 2;
    spi_bus_add_device(SPI3_HOST, &ads_cfg, &ads_dev);
    imu_cfg = ads_cfg;
    imu_cfg.clock_speed_hz = 10000000;
    imu_cfg.mode = 0;
    imu_cfg.spics_io_num = PIN_CS_IMU;
    spi_bus_add_device(SPI3_HOST, &imu_cfg, &imu_dev);

    memset(&io, 0, sizeof io);
    io.pin_bit_mask = (1ULL << PIN_START) | (1ULL << PIN_RESET);
    io.mode = GPIO_MODE_OUTPUT;
    gpio_config(&io);
    gpio_set_level(PIN_RESET, 0);
    vTaskDelay(1);
    gpio_set_level(PIN_RESET, 1);
    vTaskDelay(1);

    ads_command(ADS_SDATAC);
    ads_write_reg(ADS_CONFIG1, ADS_CONFIG1_2KSPS);
    ads_write_reg(ADS_CONFIG3, 0xE0); /* internal reference on */
    for (c = 0; c < EMG_CH; ++c) {
        ads_write_reg((uint8_t)(ADS_CH1SET + c), ADS_CHSET_GAIN24);
    }
    imu_write_reg(ICM_PWR_MGMT0, 0x0F);     /* accel + gyro low-noise mode */
    imu_write_reg(ICM_GYRO_CONFIG0, 0x07);  /* +-2000 dps, 200 Hz */
    imu_write_reg(ICM_ACCEL_CONFIG0, 0x07); /* +-16 g, 200 Hz */

    wsb_ring_init(&ring, ring_storage, sizeof ring_storage);
    boot_id = (uint32_t)now_us() ^ 0xA5A5A5A5u;
    xTaskCreate(acq_task, "acq", 4096, NULL, 10, &acq_handle);
    xTaskCreate(io_task, "io", 8192, NULL, 5, NULL);

    memset(&io, 0, sizeof io);
    io.pin_bit_mask = 1ULL << PIN_DRDY;
    io.mode = GPIO_MODE_INPUT;
    io.intr_type = GPIO_INTR_NEGEDGE;
    gpio_config(&io);
    gpio_install_isr_service(0);
    gpio_isr_handler_add(PIN_DRDY, drdy_isr, NULL);

    ads_command(ADS_RDATAC);
    gpio_set_level(PIN_START, 1);
    ads_command(ADS_START);
}
