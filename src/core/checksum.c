/* CRC-32 (reflected, polynomial 0xEDB88320): see include/ptrag/checksum.h.
 * "Slicing by 8": eight 256-entry tables let the loop consume 8 bytes per
 * iteration instead of one, which makes hashing a checkpoint several times
 * faster than the classic byte-at-a-time table walk. */
#define _POSIX_C_SOURCE 200809L
#include "ptrag/checksum.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_build(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_table[0][i] = c;
    }
    /* table[t][i] = CRC of byte i followed by t zero bytes. */
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFFu];
}

uint32_t ptrag_crc32_update(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_table_once, crc_table_build);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    /* Little-endian byte order is built explicitly, so the result does not
     * depend on the host's endianness or on the buffer's alignment. */
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xFFu] ^ crc_table[6][(lo >> 8) & 0xFFu] ^
            crc_table[5][(lo >> 16) & 0xFFu] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
            crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFFu];
    return ~c;
}

uint32_t ptrag_crc32(const void *data, size_t n) { return ptrag_crc32_update(0, data, n); }

int ptrag_file_crc32(const char *path, uint32_t *crc, uint64_t *size, ptrag_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    uint32_t c = 0;
    uint64_t total = 0;
    size_t r;
    while ((r = fread(buf, 1, CHUNK, f)) > 0) {
        c = ptrag_crc32_update(c, buf, r);
        total += r;
    }
    int bad = ferror(f);
    free(buf);
    fclose(f);
    if (bad) return ptrag_fail(err, PTRAG_E_IO, "%s: read error", path);
    if (crc) *crc = c;
    if (size) *size = total;
    return 0;
}

int ptrag_file_digest(const char *path, uint64_t *digest, uint64_t *size, ptrag_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64: offset basis, prime 2^40 + 2^8 + 0xb3 */
    unsigned char buf[1 << 16];
    size_t r;
    uint64_t total = 0;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < r; i++) h = (h ^ buf[i]) * 0x100000001b3ull;
        total += r;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) return ptrag_fail(err, PTRAG_E_IO, "%s: read error", path);
    if (digest) *digest = h;
    if (size) *size = total;
    return 0;
}
