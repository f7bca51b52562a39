/* Host tool for the firmware bridge.
 *
 *   wsb_tool vectors            print the test vectors (JSON) made by the C core
 *   wsb_tool decode < capture   decode a byte stream: one JSON line per frame
 *   wsb_tool crc HEX            CRC-16/CCITT-FALSE of the bytes given as hex
 */
#include <stdio.h>
#include <string.h>

#include "wsb.h"
#include "wsb_vectors.h"

static char json[1 << 20];

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int cmd_decode(void)
{
    static wsb_parser_t p;
    int c;
    unsigned long bad = 0, ok = 0;
    wsb_parser_init(&p);
    while ((c = getchar()) != EOF) {
        int r = wsb_parser_feed(&p, (uint8_t)c);
        if (r == WSB_PARSE_FRAME) {
            size_t i;
            ok++;
            printf("{\"version\": %u, \"type\": %u, \"stream\": %u, \"flags\": %u, \"seq\": %lu, "
                   "\"timestamp_us\": %llu, \"payload\": \"",
                   p.header.version, p.header.type, p.header.stream, p.header.flags,
                   (unsigned long)p.header.seq, (unsigned long long)p.header.timestamp_us);
            for (i = 0; i < p.payload_len; ++i) {
                printf("%02x", p.payload[i]);
            }
            printf("\"}\n");
        } else if (r == WSB_PARSE_ERROR) {
            bad++;
            printf("{\"error\": true}\n");
        }
    }
    fprintf(stderr, "%lu frames, %lu bad\n", ok, bad);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "vectors") == 0) {
        size_t n = wsb_vectors_json(json, sizeof json);
        if (n == 0) {
            fprintf(stderr, "wsb_tool: vector buffer too small\n");
            return 1;
        }
        fwrite(json, 1, n, stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) {
        return cmd_decode();
    }
    if (argc >= 3 && strcmp(argv[1], "crc") == 0) {
        static uint8_t buf[4096];
        size_t n = 0, i, len = strlen(argv[2]);
        for (i = 0; i + 1 < len && n < sizeof buf; i += 2) {
            int hi = hexval(argv[2][i]), lo = hexval(argv[2][i + 1]);
            if (hi < 0 || lo < 0) {
                fprintf(stderr, "wsb_tool: not hex: %s\n", argv[2]);
                return 2;
            }
            buf[n++] = (uint8_t)(hi * 16 + lo);
        }
        printf("0x%04X\n", wsb_crc16(buf, n));
        return 0;
    }
    fprintf(stderr, "usage: wsb_tool vectors | decode < bytes | crc HEX\n");
    return 2;
}
