/* Host simulation of the ESP-IDF calls the example makes: tasks are pthreads, the
 * ADS1299 DRDY line is a 2 kHz timer thread, SPI returns synthetic chip data, UART0
 * is stdin/stdout. Runs the firmware for WSB_STUB_RUN_MS (default 300) ms. */
#define _XOPEN_SOURCE 700

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver/gpio.h"
#include "driver/spi_master.h"
#include "driver/uart.h"
#include "esp_timer.h"
#include "firmware.h"
#include "freertos/task.h"

struct stub_task {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint32_t notified;
    TaskFunction_t fn;
    void *arg;
};

struct stub_spi_device {
    int cs;
};

static struct stub_task tasks[4];
static int n_tasks;
static struct stub_spi_device spi_devices[2];
static int n_spi;
static struct timespec boot;
static gpio_isr_t drdy_handler;
static void *drdy_arg;
static uint32_t ads_sample;

static void sleep_us(unsigned us)
{
    struct timespec ts;
    ts.tv_sec = us / 1000000u;
    ts.tv_nsec = (long)(us % 1000000u) * 1000L;
    nanosleep(&ts, NULL);
}

int64_t esp_timer_get_time(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - boot.tv_sec) * 1000000 + (now.tv_nsec - boot.tv_nsec) / 1000;
}

static void *task_main(void *arg)
{
    struct stub_task *t = arg;
    t->fn(t->arg);
    return NULL;
}

BaseType_t xTaskCreate(TaskFunction_t fn, const char *name, uint32_t stack, void *arg, UBaseType_t prio,
                       TaskHandle_t *handle)
{
    struct stub_task *t = &tasks[n_tasks++];
    (void)name;
    (void)stack;
    (void)prio;
    t->fn = fn;
    t->arg = arg;
    t->notified = 0;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    if (handle != NULL) {
        *handle = t;
    }
    pthread_create(&t->thread, NULL, task_main, t);
    return pdPASS;
}

static struct stub_task *self_task(void)
{
    int i;
    for (i = 0; i < n_tasks; ++i) {
        if (pthread_equal(tasks[i].thread, pthread_self())) {
            return &tasks[i];
        }
    }
    return NULL;
}

void vTaskDelay(TickType_t ticks)
{
    sleep_us(1000u * ticks);
}

uint32_t ulTaskNotifyTake(BaseType_t clear, TickType_t wait)
{
    struct stub_task *t = self_task();
    uint32_t v;
    (void)wait;
    if (t == NULL) {
        return 0;
    }
    pthread_mutex_lock(&t->lock);
    while (t->notified == 0) {
        pthread_cond_wait(&t->cond, &t->lock);
    }
    v = t->notified;
    t->notified = clear ? 0 : v - 1;
    pthread_mutex_unlock(&t->lock);
    return v;
}

void vTaskNotifyGiveFromISR(TaskHandle_t task, BaseType_t *woken)
{
    pthread_mutex_lock(&task->lock);
    task->notified++;
    pthread_cond_signal(&task->cond);
    pthread_mutex_unlock(&task->lock);
    *woken = pdFALSE;
}

esp_err_t gpio_config(const gpio_config_t *cfg)
{
    (void)cfg;
    return ESP_OK;
}

esp_err_t gpio_set_level(gpio_num_t pin, uint32_t level)
{
    (void)pin;
    (void)level;
    return ESP_OK;
}

esp_err_t gpio_install_isr_service(int flags)
{
    (void)flags;
    return ESP_OK;
}

static void *drdy_thread(void *arg)
{
    struct timespec next;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        next.tv_nsec += 500000; /* 2 kSPS */
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec += 1;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        drdy_handler(drdy_arg);
    }
    return NULL;
}

esp_err_t gpio_isr_handler_add(gpio_num_t pin, gpio_isr_t handler, void *arg)
{
    pthread_t th;
    (void)pin;
    drdy_handler = handler;
    drdy_arg = arg;
    pthread_create(&th, NULL, drdy_thread, NULL);
    return ESP_OK;
}

esp_err_t spi_bus_initialize(spi_host_device_t host, const spi_bus_config_t *cfg, int dma)
{
    (void)host;
    (void)cfg;
    (void)dma;
    return ESP_OK;
}

esp_err_t spi_bus_add_device(spi_host_device_t host, const spi_device_interface_config_t *cfg,
                             spi_device_handle_t *handle)
{
    (void)host;
    spi_devices[n_spi].cs = cfg->spics_io_num;
    *handle = &spi_devices[n_spi++];
    return ESP_OK;
}

/* ADS1299 (27-byte reads): status C0 00 00, then channel c = (sample * (c + 1)) mod 2^16 - 2^15,
 * 24-bit MSB first. ICM-42688 (13-byte reads): 1 g on z at +-16 g, zeros elsewhere. */
esp_err_t spi_device_polling_transmit(spi_device_handle_t handle, spi_transaction_t *t)
{
    uint8_t *rx = t->rx_buffer;
    size_t n = t->length / 8, c;
    if (rx == NULL) {
        return ESP_OK;
    }
    memset(rx, 0, n);
    if (handle == &spi_devices[0] && n == 27) {
        rx[0] = 0xC0;
        for (c = 0; c < 8; ++c) {
            int32_t v = (int32_t)((ads_sample * (c + 1)) % 65536u) - 32768;
            uint32_t u = (uint32_t)v & 0xFFFFFFu;
            rx[3 + 3 * c] = (uint8_t)(u >> 16);
            rx[4 + 3 * c] = (uint8_t)(u >> 8);
            rx[5 + 3 * c] = (uint8_t)u;
        }
        ads_sample++;
    } else if (n == 13) {
        rx[5] = 0x08; /* accel z = 2048 counts = 1 g at +-16 g */
    }
    return ESP_OK;
}

esp_err_t uart_driver_install(uart_port_t port, int rx_size, int tx_size, int queue_size, void *queue,
                              int flags)
{
    (void)port;
    (void)rx_size;
    (void)tx_size;
    (void)queue_size;
    (void)queue;
    (void)flags;
    return ESP_OK;
}

esp_err_t uart_param_config(uart_port_t port, const uart_config_t *cfg)
{
    (void)port;
    (void)cfg;
    return ESP_OK;
}

int uart_write_bytes(uart_port_t port, const void *data, size_t len)
{
    (void)port;
    return (int)fwrite(data, 1, len, stdout);
}

int uart_read_bytes(uart_port_t port, void *buf, uint32_t len, TickType_t ticks)
{
    struct pollfd p;
    ssize_t n;
    (void)port;
    p.fd = 0;
    p.events = POLLIN;
    if (poll(&p, 1, (int)ticks) <= 0 || !(p.revents & POLLIN)) {
        sleep_us(1000u * ticks);
        return 0;
    }
    n = read(0, buf, len);
    if (n <= 0) {
        sleep_us(1000u * ticks);
        return 0;
    }
    return (int)n;
}

int main(void)
{
    const char *ms = getenv("WSB_STUB_RUN_MS");
    clock_gettime(CLOCK_MONOTONIC, &boot);
    app_main();
    sleep_us(1000u * (unsigned)(ms != NULL ? atoi(ms) : 300));
    fflush(stdout);
    _exit(0);
}
