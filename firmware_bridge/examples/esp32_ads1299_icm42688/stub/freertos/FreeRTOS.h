/* Host stub of the FreeRTOS types the example uses (not FreeRTOS itself). */
#ifndef STUB_FREERTOS_H
#define STUB_FREERTOS_H

#include <stdint.h>

typedef int BaseType_t;
typedef uint32_t TickType_t;
typedef uint32_t UBaseType_t;
typedef struct stub_task *TaskHandle_t;

#define pdTRUE 1
#define pdFALSE 0
#define pdPASS 1
#define portMAX_DELAY 0xFFFFFFFFu
#define portYIELD_FROM_ISR(x) ((void)(x))
#define IRAM_ATTR

#endif
