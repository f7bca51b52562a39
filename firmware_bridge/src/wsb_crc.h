/* CRC-16/CCITT-FALSE for the wearsense firmware bridge.
 *
 * Polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR.
 * Check value: wsb_crc16("123456789", 9) == 0x29B1.
 * Plain C99, no allocation, no platform calls.
 */
#ifndef WSB_CRC_H
#define WSB_CRC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSB_CRC16_INIT 0xFFFFu

/* Continue a CRC over more bytes: crc = wsb_crc16_update(crc, data, len). */
uint16_t wsb_crc16_update(uint16_t crc, const uint8_t *data, size_t len);

/* CRC of one buffer, starting from WSB_CRC16_INIT. */
uint16_t wsb_crc16(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* WSB_CRC_H */
