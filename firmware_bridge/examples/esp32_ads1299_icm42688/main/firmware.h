/* Entry point of the ESP32 firmware example (ESP-IDF calls app_main). */
#ifndef FIRMWARE_H
#define FIRMWARE_H

void app_main(void);

#endif
