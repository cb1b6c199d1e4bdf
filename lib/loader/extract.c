/* See extract.h. */
#include "loader/extract.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>

static bool starts_with(const uint8_t *data, size_t len, const void *magic, size_t n)
{
    return len >= n && memcmp(data, magic, n) == 0;
}

uint32_t vmm_loader_compression(const uint8_t *data, size_t len)
{
    /* The magic numbers Linux's decompressors check (lib/decompress.c). */
    if (starts_with(data, len, "\x7f" "ELF", 4))
        return VMM_COMPRESSION_NONE;
    if (starts_with(data, len, "\x1f\x8b", 2))
        return VMM_COMPRESSION_GZIP;
    if (starts_with(data, len, "\xfd" "7zXZ\x00", 6))
        return VMM_COMPRESSION_XZ;
    if (starts_with(data, len, "\x28\xb5\x2f\xfd", 4))
        return VMM_COMPRESSION_ZSTD;
    if (starts_with(data, len, "\x02\x21\x4c\x18", 4))
        return VMM_COMPRESSION_LZ4;
    if (starts_with(data, len, "BZh", 3))
        return VMM_COMPRESSION_BZIP2;
    if (starts_with(data, len, "\x5d\x00\x00", 3))
        return VMM_COMPRESSION_LZMA;
    if (starts_with(data, len, "\x89\x4c\x5a\x4f", 4))
        return VMM_COMPRESSION_LZO;
    return VMM_COMPRESSION_UNKNOWN;
}

const char *vmm_loader_compression_name(uint32_t compression)
{
    switch (compression) {
    case VMM_COMPRESSION_NONE: return "none";
    case VMM_COMPRESSION_GZIP: return "gzip";
    case VMM_COMPRESSION_XZ: return "xz";
    case VMM_COMPRESSION_ZSTD: return "zstd";
    case VMM_COMPRESSION_LZ4: return "lz4";
    case VMM_COMPRESSION_BZIP2: return "bzip2";
    case VMM_COMPRESSION_LZMA: return "lzma";
    case VMM_COMPRESSION_LZO: return "lzo";
    default: return "unknown";
    }
}

bool vmm_loader_can_extract(uint32_t compression)
{
    (void)compression;
    return false; /* decompressors land with extract's own commit */
}

int vmm_loader_decompress(const uint8_t *in, size_t len, uint32_t compression, uint64_t max_out,
                          uint8_t **out, size_t *out_len, const char *what)
{
    (void)in;
    (void)len;
    (void)max_out;
    (void)out;
    (void)out_len;
    return vmm_err(-ENOTSUP, "%s: %s payloads cannot be extracted by this libvmm build", what,
                   vmm_loader_compression_name(compression));
}
