/* Host-side decompression of bzImage payloads (boot.rst "payload_offset":
 * the protected-mode kernel's compressed ELF vmlinux), so that a stock
 * distribution kernel can be entered through PVH without running its
 * decompressor in the guest. Each decompressor is optional at build time
 * (lib/loader/meson.build). */
#ifndef VMM_LIB_LOADER_EXTRACT_H
#define VMM_LIB_LOADER_EXTRACT_H

#include <vmm/loader.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The compression of @data (an enum vmm_compression value) from its magic
 * bytes: VMM_COMPRESSION_NONE for an ELF (7f 'E' 'L' 'F'), UNKNOWN for
 * anything else unrecognised. */
uint32_t vmm_loader_compression(const uint8_t *data, size_t len);

/* "gzip", "xz", ...; "none", "unknown". */
const char *vmm_loader_compression_name(uint32_t compression);

/* Whether this build can decompress @compression. */
bool vmm_loader_can_extract(uint32_t compression);

/* Decompresses the stream at the start of [in, in + len) into a malloc'ed
 * buffer (*out, freed by the caller) of *out_len bytes, at most @max_out.
 * Bytes after the end of the stream are ignored (Linux appends the
 * decompressed size as 4 bytes). Returns 0, or with a vmm_last_error()
 * sentence that starts with @what:
 *   -ENOTSUP  not built with that decompressor, or not one libvmm extracts;
 *   -ENOEXEC  corrupt or truncated data;
 *   -ENOMEM   the output would exceed @max_out, or out of memory.
 * Never reads outside [in, in + len). */
int vmm_loader_decompress(const uint8_t *in, size_t len, uint32_t compression, uint64_t max_out,
                          uint8_t **out, size_t *out_len, const char *what);

#endif
