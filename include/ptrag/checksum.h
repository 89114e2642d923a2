/* Checksums for integrity checks: CRC-32 (IEEE 802.3, the polynomial of zlib,
 * gzip and PNG), so a value written by ptrag can be verified with any standard
 * tool, e.g. `python3 -c "import zlib,sys; print(hex(zlib.crc32(open(sys.argv[1],'rb').read())))" F`.
 * Used for checkpoint files and for the input-file fingerprints in a run's meta.txt. */
#ifndef PTRAG_CHECKSUM_H
#define PTRAG_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include "ptrag/error.h"

/* Continues a CRC-32 over `n` more bytes. Start with crc = 0; the result of
 * one call can be fed to the next, so data may arrive in pieces of any size:
 *   crc = ptrag_crc32_update(0, a, na); crc = ptrag_crc32_update(crc, b, nb); */
uint32_t ptrag_crc32_update(uint32_t crc, const void *data, size_t n);

/* CRC-32 of a whole buffer. */
uint32_t ptrag_crc32(const void *data, size_t n);

/* Streams a file (constant memory) and returns its CRC-32 and size in bytes. */
int ptrag_file_crc32(const char *path, uint32_t *crc, uint64_t *size, ptrag_error *err);

/* The digest of a recorded file: 64-bit FNV-1a of its bytes, in Python
 *   h = 0xcbf29ce484222325
 *   for x in data: h = ((h ^ x) * 0x100000001b3) % 2**64
 * Not a CRC-32: a file that ends with the CRC-32 of what precedes it (a
 * checkpoint does) has the same CRC-32 (2144df1c) whatever it holds, and
 * CRCs are affine, so no CRC-32 variant of the same polynomial tells two
 * such files of one size apart. */
int ptrag_file_digest(const char *path, uint64_t *digest, uint64_t *size, ptrag_error *err);

#endif
