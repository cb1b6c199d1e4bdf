/* See extract.h. One small function per format, each over the same bounded
 * output buffer (struct outbuf): the output grows geometrically and never
 * past max_out, so a decompression bomb stops at the limit instead of
 * allocating what it claims. */
#include "loader/extract.h"
#include "loader/loader.h" /* ld32() */

#include "core/error.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef VMM_HAVE_ZLIB
#define ZLIB_CONST
#include <zlib.h>
#endif
#ifdef VMM_HAVE_LZMA
#include <lzma.h>
#endif
#ifdef VMM_HAVE_ZSTD
#include <zstd.h>
#endif
#ifdef VMM_HAVE_LZ4
#include <lz4.h>
#endif

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
    switch (compression) {
#ifdef VMM_HAVE_ZLIB
    case VMM_COMPRESSION_GZIP: return true;
#endif
#ifdef VMM_HAVE_LZMA
    case VMM_COMPRESSION_XZ: return true;
#endif
#ifdef VMM_HAVE_ZSTD
    case VMM_COMPRESSION_ZSTD: return true;
#endif
#ifdef VMM_HAVE_LZ4
    case VMM_COMPRESSION_LZ4: return true;
#endif
    default: return false;
    }
}

/* ---- the bounded output buffer ------------------------------------------- */

#define MiB ((size_t)1 << 20)
/* The helpers below serve the decompressors a build has; with some left
 * out (lib/loader/meson.build), some helpers are not called. */
#define MAYBE_UNUSED __attribute__((unused))

struct outbuf {
    uint8_t *buf;
    size_t len;      /* bytes decompressed so far */
    size_t cap;      /* bytes allocated at buf */
    size_t max;      /* the caller's max_out */
    bool probing;    /* the decoder was last handed @probe, not buf */
    uint8_t probe;   /* a full buffer's stand-in: a byte written here means
                        there is more output (grow, or refuse at max) */
    const char *what;
    const char *format;
};

/* The first allocation. Linux appends the decompressed size as 4 bytes
 * (scripts/Makefile.lib size_append), so the input's last 4 bytes are a
 * good guess, but they come from the image: a hint only, never above
 * max_out and never more than a generous 64:1 of the input (plus 1 MiB).
 * Without a plausible hint, 4x the input. */
MAYBE_UNUSED static size_t out_first_size(const uint8_t *in, size_t len, size_t max)
{
    size_t bound = len > (SIZE_MAX - MiB) / 64 ? SIZE_MAX : len * 64 + MiB;
    size_t want = len > SIZE_MAX / 4 ? SIZE_MAX : len * 4;
    if (len >= 4) {
        uint32_t hint = (uint32_t)in[len - 4] | (uint32_t)in[len - 3] << 8 |
                        (uint32_t)in[len - 2] << 16 | (uint32_t)in[len - 1] << 24;
        if (hint != 0 && hint <= max)
            want = hint < bound ? hint : bound;
    }
    if (want < 4096)
        want = 4096;
    return want < max ? want : max;
}

MAYBE_UNUSED static int out_init(struct outbuf *o, const uint8_t *in, size_t len,
                                 uint64_t max_out, const char *what, const char *format)
{
    memset(o, 0, sizeof *o);
    o->max = max_out < SIZE_MAX ? (size_t)max_out : SIZE_MAX;
    o->what = what;
    o->format = format;
    o->cap = out_first_size(in, len, o->max);
    if (o->cap == 0)
        return 0;
    o->buf = malloc(o->cap);
    if (o->buf == NULL)
        return vmm_err(-ENOMEM, "%s: out of memory allocating %zu bytes for the %s output", what,
                       o->cap, format);
    return 0;
}

MAYBE_UNUSED static int out_too_big(const struct outbuf *o)
{
    return vmm_err(-ENOMEM, "%s: the %s data decompresses to more than the %zu-byte limit", o->what,
                   o->format, o->max);
}

/* Grows the buffer to at least @need bytes (need <= max): doubling, capped
 * at max. */
MAYBE_UNUSED static int out_grow(struct outbuf *o, size_t need)
{
    if (need <= o->cap)
        return 0;
    size_t cap = o->cap > o->max / 2 ? o->max : o->cap * 2;
    if (cap < need)
        cap = need;
    uint8_t *p = realloc(o->buf, cap);
    if (p == NULL)
        return vmm_err(-ENOMEM, "%s: out of memory growing the %s output to %zu bytes", o->what,
                       o->format, cap);
    o->buf = p;
    o->cap = cap;
    return 0;
}

/* Where the decoder writes next: the free part of the buffer, or the probe
 * byte once the buffer is full (which is also how a stream whose output
 * exactly fills the buffer gets to finish without growing it). */
MAYBE_UNUSED static void out_space(struct outbuf *o, uint8_t **next, size_t *avail)
{
    o->probing = o->len == o->cap;
    if (o->probing) {
        *next = &o->probe;
        *avail = 1;
    } else {
        *next = o->buf + o->len;
        *avail = o->cap - o->len;
    }
}

/* Accounts for @n bytes the decoder wrote where out_space() said. */
MAYBE_UNUSED static int out_wrote(struct outbuf *o, size_t n)
{
    if (!o->probing) {
        o->len += n;
        return 0;
    }
    if (n == 0)
        return 0;
    if (o->len >= o->max)
        return out_too_big(o);
    int rc = out_grow(o, o->len + 1);
    if (rc != 0)
        return rc;
    o->buf[o->len++] = o->probe;
    return 0;
}

/* Hands the result over (trimmed to size; a 1-byte buffer when empty). */
MAYBE_UNUSED static int out_finish(struct outbuf *o, uint8_t **out, size_t *out_len)
{
    if (o->buf == NULL || o->len < o->cap) {
        uint8_t *p = realloc(o->buf, o->len ? o->len : 1);
        if (p == NULL && o->buf == NULL)
            return vmm_err(-ENOMEM, "%s: out of memory", o->what);
        if (p != NULL)
            o->buf = p; /* a failed shrink keeps the larger buffer */
    }
    *out = o->buf;
    *out_len = o->len;
    o->buf = NULL;
    return 0;
}

MAYBE_UNUSED static void out_free(struct outbuf *o)
{
    free(o->buf);
    o->buf = NULL;
}

MAYBE_UNUSED static int truncated(const struct outbuf *o, size_t len)
{
    return vmm_err(-ENOEXEC, "%s: %s data is truncated: the stream is unfinished at the end of "
                   "its %zu bytes (%zu bytes decompressed)", o->what, o->format, len, o->len);
}

/* ---- gzip (RFC 1952) through zlib ---------------------------------------- */

#ifdef VMM_HAVE_ZLIB
/* One gzip member (windowBits 16 + MAX_WBITS: gzip wrapper only, CRC32
 * and ISIZE checked by zlib), as Linux's lib/decompress_inflate.c reads
 * it; inflate() stops at the member's end, so trailing bytes are left. */
static int gunzip(const uint8_t *in, size_t len, struct outbuf *o)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int zr = inflateInit2(&zs, 16 + MAX_WBITS);
    if (zr != Z_OK)
        return vmm_err(zr == Z_MEM_ERROR ? -ENOMEM : -EIO, "%s: zlib inflateInit2 failed (%d)",
                       o->what, zr);
    zs.next_in = in;
    int rc = 0;
    for (;;) {
        size_t used = (size_t)(zs.next_in - in), avail = 0;
        uint8_t *next = NULL;
        /* zlib counts in uInt: feed and drain at most UINT_MAX at a time. */
        zs.avail_in = len - used > UINT_MAX ? UINT_MAX : (uInt)(len - used);
        out_space(o, &next, &avail);
        zs.next_out = next;
        zs.avail_out = avail > UINT_MAX ? UINT_MAX : (uInt)avail;
        uInt before = zs.avail_out;
        zr = inflate(&zs, Z_NO_FLUSH);
        if ((rc = out_wrote(o, before - zs.avail_out)) != 0)
            break;
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_OK)
            continue;
        if (zr == Z_BUF_ERROR && zs.next_in == in + len) {
            rc = truncated(o, len); /* no progress possible: input used up */
        } else if (zr == Z_MEM_ERROR) {
            rc = vmm_err(-ENOMEM, "%s: zlib ran out of memory", o->what);
        } else {
            rc = vmm_err(-ENOEXEC, "%s: gzip data is corrupt (%s) at input byte %zu", o->what,
                         zs.msg ? zs.msg : "Z_DATA_ERROR", (size_t)(zs.next_in - in));
        }
        break;
    }
    inflateEnd(&zs);
    return rc;
}
#endif

/* ---- xz (the .xz file format, tukaani.org xz-file-format.txt) ------------ */

#ifdef VMM_HAVE_LZMA
/* Dictionary memory liblzma may allocate: Linux's xz_wrap.sh asks for at
 * most 32 MiB (arm/x86 dict=32MiB), xz -9 for 64 MiB. */
#define XZ_MEMLIMIT ((uint64_t)256 << 20)

static const char *lzma_ret_name(lzma_ret r)
{
    switch (r) {
    case LZMA_DATA_ERROR: return "LZMA_DATA_ERROR";
    case LZMA_FORMAT_ERROR: return "LZMA_FORMAT_ERROR: not an .xz stream";
    case LZMA_OPTIONS_ERROR: return "LZMA_OPTIONS_ERROR: unsupported options";
    case LZMA_UNSUPPORTED_CHECK: return "LZMA_UNSUPPORTED_CHECK: unknown integrity check";
    case LZMA_PROG_ERROR: return "LZMA_PROG_ERROR";
    default: return "unexpected liblzma result";
    }
}

/* One .xz stream: Linux builds it with the x86 BCJ filter, LZMA2 and a
 * CRC32 check (scripts/xz_wrap.sh); liblzma verifies the check and the
 * index. Without LZMA_CONCATENATED the decoder ends at the stream footer,
 * leaving what follows (the appended size). */
static int unxz(const uint8_t *in, size_t len, struct outbuf *o)
{
    lzma_stream strm = LZMA_STREAM_INIT;
    lzma_ret lr = lzma_stream_decoder(&strm, XZ_MEMLIMIT, LZMA_TELL_UNSUPPORTED_CHECK);
    if (lr != LZMA_OK)
        return vmm_err(lr == LZMA_MEM_ERROR ? -ENOMEM : -EIO,
                       "%s: liblzma lzma_stream_decoder failed (%d)", o->what, (int)lr);
    strm.next_in = in;
    strm.avail_in = len;
    int rc = 0;
    for (;;) {
        uint8_t *next = NULL;
        size_t avail = 0;
        out_space(o, &next, &avail);
        strm.next_out = next;
        strm.avail_out = avail;
        lr = lzma_code(&strm, LZMA_FINISH);
        if ((rc = out_wrote(o, avail - strm.avail_out)) != 0)
            break;
        if (lr == LZMA_STREAM_END)
            break;
        if (lr == LZMA_OK)
            continue;
        if (lr == LZMA_BUF_ERROR && strm.avail_in == 0) {
            rc = truncated(o, len); /* xz(1): "Unexpected end of input" */
        } else if (lr == LZMA_MEM_ERROR) {
            rc = vmm_err(-ENOMEM, "%s: liblzma ran out of memory", o->what);
        } else if (lr == LZMA_MEMLIMIT_ERROR) {
            rc = vmm_err(-ENOMEM, "%s: xz data needs %" PRIu64 " bytes of decoder memory, more "
                         "than the %" PRIu64 "-byte limit", o->what, lzma_memusage(&strm),
                         XZ_MEMLIMIT);
        } else {
            rc = vmm_err(-ENOEXEC, "%s: xz data is corrupt (%s) at input byte %zu", o->what,
                         lzma_ret_name(lr), len - strm.avail_in);
        }
        break;
    }
    lzma_end(&strm);
    return rc;
}
#endif

/* ---- zstd (RFC 8878) ------------------------------------------------------ */

#ifdef VMM_HAVE_ZSTD
/* One Zstandard frame, as Linux's lib/decompress_unzstd.c takes it; the
 * decoder's default window limit (2^27, ZSTD_WINDOWLOG_LIMIT_DEFAULT)
 * admits Linux's `zstd -22 --ultra`. The streaming decoder returns 0 at the
 * end of the frame; what follows it is not read. */
static int unzstd(const uint8_t *in, size_t len, struct outbuf *o)
{
    /* A frame that declares its size (RFC 8878 §3.1.1.1.4,
     * Frame_Content_Size; zstd checks it while decoding) is refused
     * up front when it would not fit. */
    unsigned long long declared = ZSTD_getFrameContentSize(in, len);
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR &&
        declared > o->max)
        return vmm_err(-ENOMEM, "%s: the zstd frame declares %llu bytes, more than the "
                       "%zu-byte limit", o->what, declared, o->max);

    ZSTD_DStream *zds = ZSTD_createDStream();
    if (zds == NULL)
        return vmm_err(-ENOMEM, "%s: out of memory for the zstd decoder", o->what);
    ZSTD_inBuffer zin = { in, len, 0 };
    int rc = 0;
    for (;;) {
        uint8_t *next = NULL;
        size_t avail = 0;
        out_space(o, &next, &avail);
        ZSTD_outBuffer zout = { next, avail, 0 };
        size_t in_before = zin.pos;
        size_t zr = ZSTD_decompressStream(zds, &zout, &zin);
        if (ZSTD_isError(zr)) {
            rc = vmm_err(-ENOEXEC, "%s: zstd data is corrupt (%s; %zu bytes decompressed)",
                         o->what, ZSTD_getErrorName(zr), o->len);
            break;
        }
        if ((rc = out_wrote(o, zout.pos)) != 0)
            break;
        if (zr == 0)
            break; /* the frame is decoded and flushed */
        /* Room left for output, yet the frame is unfinished and no input is
         * left to take: the data stops short. */
        if (zout.pos < zout.size && zin.pos == zin.size) {
            rc = truncated(o, len);
            break;
        }
        if (zout.pos == 0 && zin.pos == in_before) {
            rc = vmm_err(-ENOEXEC, "%s: zstd data is corrupt: the decoder stops at input byte %zu",
                         o->what, zin.pos);
            break;
        }
    }
    ZSTD_freeDStream(zds);
    return rc;
}
#endif

/* ---- LZ4 legacy frame (lz4 -l) ------------------------------------------- */

#ifdef VMM_HAVE_LZ4
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8 * MiB) /* each block's largest output */

/* Decodes one block of @n bytes at @src (input byte @at): first into the
 * room already there, and if that is too small, into room for a whole
 * block (8 MiB) or up to the limit. */
static int unlz4_block(const uint8_t *src, uint32_t n, size_t at, struct outbuf *o)
{
    size_t full = o->max - o->len < LZ4_LEGACY_BLOCK ? o->max - o->len : LZ4_LEGACY_BLOCK;
    size_t room = o->cap - o->len < full ? o->cap - o->len : full;
    char *dst = room > 0 ? (char *)o->buf + o->len : (char *)&o->probe;
    int r = LZ4_decompress_safe((const char *)src, dst, (int)n, (int)room);
    if (r < 0 && full > room) {
        int rc = out_grow(o, o->len + full);
        if (rc != 0)
            return rc;
        dst = (char *)o->buf + o->len;
        r = LZ4_decompress_safe((const char *)src, dst, (int)n, (int)full);
    }
    if (r >= 0) {
        o->len += (size_t)r;
        return 0;
    }
    /* It failed with all the room the limit leaves: if it fills that room
     * (or, at the limit, writes a byte) and goes on, it is too big rather
     * than corrupt. */
    if (full < LZ4_LEGACY_BLOCK) {
        int want = full > 0 ? (int)full : 1;
        if (full == 0)
            dst = (char *)&o->probe;
        if (LZ4_decompress_safe_partial((const char *)src, dst, (int)n, want, want) == want)
            return out_too_big(o);
    }
    return vmm_err(-ENOEXEC, "%s: lz4 data is corrupt: the block at input byte %zu does not "
                   "decode", o->what, at);
}

/* The legacy frame (lz4 programs/lz4io.c, "Legacy format"): the magic
 * 0x184C2102 (LE), then blocks of [le32 compressed size][LZ4 block], each
 * decompressing to at most 8 MiB. It has no end mark; as Linux's
 * lib/decompress_unlz4.c decides, a block size of 0 ends it, and the magic
 * where a block size belongs starts another frame whose blocks continue the
 * output. Linux drops the 4 appended size bytes before it starts; here the
 * same 4 bytes end the stream when they are all that is left and equal the
 * size decompressed (mod 2^32). Anything else that is not a whole block is
 * truncation, and so is a frame without blocks (what `lz4 -l` makes of
 * empty input, and what a cut after the magic looks like: no kernel).
 * Legacy frames carry no checksum, so a flipped literal byte decodes to
 * different output, and a cut exactly between two blocks cannot be told
 * from the end. */
static int unlz4(const uint8_t *in, size_t len, struct outbuf *o)
{
    if (len < 4 || ld32(in) != LZ4_LEGACY_MAGIC)
        return vmm_err(-ENOEXEC, "%s: not an LZ4 legacy frame (magic 0x184c2102, `lz4 -l`)",
                       o->what);
    size_t pos = 4;
    bool any_block = false;
    for (;;) {
        size_t rem = len - pos;
        if (rem == 0)
            break;
        if (rem < 4)
            return vmm_err(-ENOEXEC, "%s: lz4 data is truncated: %zu stray bytes at input byte "
                           "%zu where a block size belongs", o->what, rem, pos);
        uint32_t n = ld32(in + pos);
        if (rem == 4 && any_block && n == (uint32_t)o->len)
            break; /* the appended size */
        if (n == LZ4_LEGACY_MAGIC) {
            pos += 4;
            continue;
        }
        if (n == 0)
            break;
        if (n > (uint32_t)LZ4_compressBound((int)LZ4_LEGACY_BLOCK))
            return vmm_err(-ENOEXEC, "%s: lz4 data is corrupt: block size %" PRIu32 " at input "
                           "byte %zu exceeds the %d bytes an 8 MiB block can take", o->what, n,
                           pos, LZ4_compressBound((int)LZ4_LEGACY_BLOCK));
        if (n > rem - 4)
            return vmm_err(-ENOEXEC, "%s: lz4 data is truncated: the %" PRIu32 "-byte block at "
                           "input byte %zu has only %zu bytes", o->what, n, pos, rem - 4);
        int rc = unlz4_block(in + pos + 4, n, pos, o);
        if (rc != 0)
            return rc;
        pos += 4 + (size_t)n;
        any_block = true;
    }
    if (!any_block)
        return vmm_err(-ENOEXEC, "%s: lz4 data is truncated: the frame has no blocks", o->what);
    return 0;
}
#endif

/* ---- dispatch ------------------------------------------------------------ */

/* (Unused in a build that has every decompressor.) */
MAYBE_UNUSED static int not_built(const char *what, const char *format, const char *library)
{
    return vmm_err(-ENOTSUP, "%s: cannot extract the %s payload: this libvmm was built without %s",
                   what, format, library);
}

int vmm_loader_decompress(const uint8_t *in, size_t len, uint32_t compression, uint64_t max_out,
                          uint8_t **out, size_t *out_len, const char *what)
{
    if (what == NULL)
        what = "decompress";
    if ((in == NULL && len != 0) || out == NULL || out_len == NULL)
        return vmm_err(-EINVAL, "%s: vmm_loader_decompress: NULL argument", what);
    *out = NULL;
    *out_len = 0;

    const char *format = vmm_loader_compression_name(compression);
    int (*decode)(const uint8_t *, size_t, struct outbuf *) = NULL;
    switch (compression) {
    case VMM_COMPRESSION_GZIP:
#ifdef VMM_HAVE_ZLIB
        decode = gunzip;
        break;
#else
        return not_built(what, format, "zlib");
#endif
    case VMM_COMPRESSION_XZ:
#ifdef VMM_HAVE_LZMA
        decode = unxz;
        break;
#else
        return not_built(what, format, "liblzma");
#endif
    case VMM_COMPRESSION_ZSTD:
#ifdef VMM_HAVE_ZSTD
        decode = unzstd;
        break;
#else
        return not_built(what, format, "libzstd");
#endif
    case VMM_COMPRESSION_LZ4:
#ifdef VMM_HAVE_LZ4
        decode = unlz4;
        break;
#else
        return not_built(what, format, "liblz4");
#endif
    case VMM_COMPRESSION_NONE:
        return vmm_err(-ENOTSUP, "%s: the payload is not compressed", what);
    case VMM_COMPRESSION_BZIP2:
    case VMM_COMPRESSION_LZMA:
    case VMM_COMPRESSION_LZO:
        return vmm_err(-ENOTSUP, "%s: %s payloads are recognised but not extracted (libvmm "
                       "extracts gzip, xz, zstd and lz4)", what, format);
    default:
        return vmm_err(-ENOTSUP, "%s: the payload's compression (%#" PRIx32 ") is not one "
                       "libvmm knows", what, compression);
    }

    struct outbuf o;
    int rc = out_init(&o, in, len, max_out, what, format);
    if (rc == 0)
        rc = decode(in, len, &o);
    if (rc == 0)
        rc = out_finish(&o, out, out_len);
    out_free(&o);
    return rc;
}
