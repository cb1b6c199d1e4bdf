/* Host-side decompression of bzImage payloads (lib/loader/extract.c): round
 * trips through each decompressor this build has, compressed here with the
 * same libraries the way Linux's build does (xz: x86 BCJ + LZMA2 + CRC32;
 * LZ4: the legacy frame of `lz4 -l`), each followed by the 4-byte size
 * Linux appends; truncation, corruption, the output limit and bombs; magic
 * detection; the formats a build leaves out.
 *
 * malloc/realloc/free are wrapped (-Wl,--wrap in tests/unit/meson.build) so
 * the test sees what the library allocates: the largest request (never
 * more than max_out) and that every failure frees what it took. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <vmm/vmm.h>

#include "loader/extract.h"

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

#define MiB ((size_t)1 << 20)
#define WHAT "bzImage payload"
/* Helpers that a build without some decompressors does not call. */
#define MAYBE_UNUSED __attribute__((unused))
#define LZ4_BLOCK (8 * MiB)

/* ---- allocation accounting ------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static long live_allocs;  /* malloc'ed and not yet freed (wrapped callers only) */
static size_t max_request; /* largest single malloc/realloc size since reset */

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    if (p != NULL)
        live_allocs++;
    if (n > max_request)
        max_request = n;
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    void *p = __real_realloc(old, n);
    if (old == NULL && p != NULL)
        live_allocs++;
    if (n > max_request)
        max_request = n;
    return p;
}

void __wrap_free(void *p)
{
    if (p != NULL)
        live_allocs--;
    __real_free(p);
}

/* ---- test data and compressors -------------------------------------------- */

/* Bytes that compress like a kernel: runs of text, zeros and noise. */
static uint8_t *make_data(size_t n, uint32_t seed)
{
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    uint32_t x = seed | 1;
    size_t i = 0;
    while (i < n) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t run = 16 + x % 300;
        int kind = (int)(x >> 24) % 3;
        for (size_t j = 0; j < run && i < n; j++, i++) {
            if (kind == 0) {
                d[i] = (uint8_t)"libvmm extract test: mov %eax, %ebx; call *%rax\n"[j % 48];
            } else if (kind == 1) {
                d[i] = 0;
            } else {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                d[i] = (uint8_t)x;
            }
        }
    }
    return d;
}

struct packed {
    uint8_t *buf;      /* the compressed stream, then the 4-byte size */
    size_t stream_len; /* bytes of the stream itself */
    size_t len;        /* stream_len + 4 */
};

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#ifdef VMM_HAVE_ZLIB
/* gzip -9, as Linux's cmd_gzip (zlib's gzip wrapper: windowBits 16+15). */
static size_t gzip_compress(const uint8_t *d, size_t n, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
                     Z_OK);
    zs.next_in = d;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t len = zs.total_out;
    deflateEnd(&zs);
    return len;
}
#endif

#ifdef VMM_HAVE_LZMA
/* xz --check=crc32 --x86 --lzma2=preset=6e (scripts/xz_wrap.sh). */
static void xz_filters(lzma_filter f[3], lzma_options_lzma *opt, uint32_t preset)
{
    assert_false(lzma_lzma_preset(opt, preset));
    f[0].id = LZMA_FILTER_X86;
    f[0].options = NULL;
    f[1].id = LZMA_FILTER_LZMA2;
    f[1].options = opt;
    f[2].id = LZMA_VLI_UNKNOWN;
    f[2].options = NULL;
}

static size_t xz_compress(const uint8_t *d, size_t n, uint8_t *out, size_t cap)
{
    lzma_options_lzma opt;
    lzma_filter f[3];
    xz_filters(f, &opt, 6 | LZMA_PRESET_EXTREME);
    size_t pos = 0;
    assert_int_equal(lzma_stream_buffer_encode(f, LZMA_CHECK_CRC32, NULL, d, n, out, &pos, cap),
                     LZMA_OK);
    return pos;
}
#endif

#ifdef VMM_HAVE_ZSTD
static size_t zstd_compress(const uint8_t *d, size_t n, uint8_t *out, size_t cap)
{
    size_t r = ZSTD_compress(out, cap, d, n, 19);
    assert_false(ZSTD_isError(r));
    return r;
}

/* zstd -19 as the command line tool runs it (Linux's cmd_zstd): with the
 * frame's XXH64 content checksum. */
static size_t zstd_compress_checked(const uint8_t *d, size_t n, uint8_t *out, size_t cap)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    assert_non_null(cc);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 19)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1)));
    size_t r = ZSTD_compress2(cc, out, cap, d, n);
    assert_false(ZSTD_isError(r));
    ZSTD_freeCCtx(cc);
    return r;
}
#endif

#ifdef VMM_HAVE_LZ4
/* lz4 -l: the legacy magic, then [le32 size][block] per 8 MiB of input. */
static size_t lz4_compress(const uint8_t *d, size_t n, uint8_t *out, size_t cap)
{
    size_t pos = 4;
    put_le32(out, 0x184C2102u);
    for (size_t at = 0; at < n; at += LZ4_BLOCK) {
        size_t blk = n - at < LZ4_BLOCK ? n - at : LZ4_BLOCK;
        assert_true(pos + 4 + (size_t)LZ4_compressBound((int)blk) <= cap);
        int r = LZ4_compress_default((const char *)d + at, (char *)out + pos + 4, (int)blk,
                                     LZ4_compressBound((int)blk));
        assert_true(r > 0);
        put_le32(out + pos, (uint32_t)r);
        pos += 4 + (size_t)r;
    }
    return pos;
}
#endif

/* The formats this build can extract, with a compressor for each. */
struct fmt {
    uint32_t compression;
    const char *name;
    size_t (*compress)(const uint8_t *d, size_t n, uint8_t *out, size_t cap);
    int checksummed; /* corruption is always detected (CRC over the output) */
};

static const struct fmt formats[] = {
#ifdef VMM_HAVE_ZLIB
    { VMM_COMPRESSION_GZIP, "gzip", gzip_compress, 1 },
#endif
#ifdef VMM_HAVE_LZMA
    { VMM_COMPRESSION_XZ, "xz", xz_compress, 1 },
#endif
#ifdef VMM_HAVE_ZSTD
    { VMM_COMPRESSION_ZSTD, "zstd", zstd_compress, 0 },
    { VMM_COMPRESSION_ZSTD, "zstd+checksum", zstd_compress_checked, 1 },
#endif
#ifdef VMM_HAVE_LZ4
    { VMM_COMPRESSION_LZ4, "lz4", lz4_compress, 0 },
#endif
    { 0, NULL, NULL, 0 },
};

MAYBE_UNUSED static const struct fmt *find_fmt(uint32_t compression)
{
    for (const struct fmt *f = formats; f->name; f++)
        if (f->compression == compression)
            return f;
    fail_msg("format %u is not built in", compression);
    return NULL;
}

static struct packed pack(const struct fmt *f, const uint8_t *d, size_t n)
{
    struct packed p;
    size_t cap = n + n / 2 + 65536;
    p.buf = malloc(cap);
    assert_non_null(p.buf);
    p.stream_len = f->compress(d, n, p.buf, cap - 4);
    put_le32(p.buf + p.stream_len, (uint32_t)n);
    p.len = p.stream_len + 4;
    assert_int_equal(vmm_loader_compression(p.buf, p.len), f->compression);
    return p;
}

/* vmm_loader_decompress() of a private copy of exactly @len bytes (so that
 * ASan catches a read past the end), checking the accounting: nothing
 * requested above max_out (beyond the decoders' own small state, which
 * lives in the libraries and is not counted here), nothing left behind on
 * failure, and the error sentence starting with WHAT. */
static int run(const uint8_t *in, size_t len, uint32_t compression, uint64_t max_out,
               uint8_t **out, size_t *out_len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, in, len);
    long before = live_allocs;
    max_request = 0;
    *out = NULL;
    *out_len = 0;
    int rc = vmm_loader_decompress(copy, len, compression, max_out, out, out_len, WHAT);
    long after = live_allocs;
    free(copy);
    if (rc == 0) {
        assert_non_null(*out);
        assert_true(*out_len <= max_out);
        assert_int_equal(after, before + 1);
    } else {
        assert_null(*out);
        assert_int_equal(after, before);
        if (strncmp(vmm_last_error(), WHAT ": ", strlen(WHAT) + 2) != 0)
            fail_msg("error sentence does not start with \"" WHAT "\": %s", vmm_last_error());
    }
    assert_true(max_request <= (max_out > 0 ? max_out : 1));
    return rc;
}

static void expect_output(int rc, uint8_t *out, size_t out_len, const uint8_t *d, size_t n,
                          const char *what)
{
    if (rc != 0)
        fail_msg("%s: rc %d: %s", what, rc, vmm_last_error());
    if (out_len != n || memcmp(out, d, n) != 0)
        fail_msg("%s: got %zu bytes, expected %zu (or different bytes)", what, out_len, n);
    free(out);
}

/* ---- round trips ------------------------------------------------------------ */

static void round_trip(size_t n, uint32_t seed)
{
    uint8_t *d = make_data(n, seed);
    for (const struct fmt *f = formats; f->name; f++) {
        struct packed p = pack(f, d, n);
        uint8_t *out;
        size_t out_len;
        char what[96];
        int rc;

        /* As the loader sees it: stream + appended size, RAM-sized limit. */
        snprintf(what, sizeof what, "%s, %zu bytes, with size", f->name, n);
        rc = run(p.buf, p.len, f->compression, 64 * MiB, &out, &out_len);
        expect_output(rc, out, out_len, d, n, what);
        /* The stream alone (no hint), and bytes after the size (ignored). */
        snprintf(what, sizeof what, "%s, %zu bytes, stream only", f->name, n);
        rc = run(p.buf, p.stream_len, f->compression, 64 * MiB, &out, &out_len);
        expect_output(rc, out, out_len, d, n, what);
        /* A lying size hint (1 byte, then max_out): the buffer grows. An
         * LZ4 legacy stream has no end mark, so there the 4 bytes count
         * only as the appended size when they equal it (else they are a
         * block size with its block missing). */
        static const uint32_t lies[] = { 1, (uint32_t)(64 * MiB) };
        for (size_t k = 0; k < sizeof lies / sizeof lies[0]; k++) {
            put_le32(p.buf + p.stream_len, lies[k]);
            snprintf(what, sizeof what, "%s, %zu bytes, hint %u", f->name, n, lies[k]);
            rc = run(p.buf, p.len, f->compression, 64 * MiB, &out, &out_len);
            if (f->compression == VMM_COMPRESSION_LZ4) {
                assert_int_equal(rc, -ENOEXEC);
            } else {
                expect_output(rc, out, out_len, d, n, what);
            }
        }
        put_le32(p.buf + p.stream_len, (uint32_t)n);

        /* The limit: exactly the size fits (with and without the hint);
         * one byte less is -ENOMEM. */
        snprintf(what, sizeof what, "%s, %zu bytes, max_out exact", f->name, n);
        rc = run(p.buf, p.len, f->compression, n, &out, &out_len);
        expect_output(rc, out, out_len, d, n, what);
        rc = run(p.buf, p.stream_len, f->compression, n, &out, &out_len);
        expect_output(rc, out, out_len, d, n, what);
        assert_int_equal(run(p.buf, p.len, f->compression, n - 1, &out, &out_len), -ENOMEM);
        assert_non_null(strstr(vmm_last_error(), "limit"));
        assert_int_equal(run(p.buf, p.stream_len, f->compression, n - 1, &out, &out_len),
                         -ENOMEM);
        assert_int_equal(run(p.buf, p.len, f->compression, n / 3, &out, &out_len), -ENOMEM);
        assert_int_equal(run(p.buf, p.len, f->compression, 0, &out, &out_len), -ENOMEM);
        free(p.buf);
    }
    free(d);
}

static void test_round_trip_small(void **state)
{
    (void)state;
    round_trip(3000, 1);
}

static void test_round_trip_large(void **state)
{
    (void)state;
    round_trip(700 * 1024 + 17, 2);
}

/* An LZ4 legacy stream of several 8 MiB blocks, as `lz4 -l` writes for a
 * kernel; a cut exactly between blocks cannot be detected (no end mark, no
 * checksum) and yields the blocks before it. */
static void test_lz4_multi_block(void **state)
{
    (void)state;
#ifdef VMM_HAVE_LZ4
    size_t n = 2 * LZ4_BLOCK + 12345;
    uint8_t *d = make_data(n, 3);
    struct packed p = pack(find_fmt(VMM_COMPRESSION_LZ4), d, n);
    uint8_t *out;
    size_t out_len;
    int rc;
    rc = run(p.buf, p.len, VMM_COMPRESSION_LZ4, 64 * MiB, &out, &out_len);
    expect_output(rc, out, out_len, d, n, "lz4 3 blocks");
    assert_int_equal(run(p.buf, p.len, VMM_COMPRESSION_LZ4, n - 1, &out, &out_len), -ENOMEM);
    assert_int_equal(run(p.buf, p.len, VMM_COMPRESSION_LZ4, LZ4_BLOCK + 5, &out, &out_len),
                     -ENOMEM);

    /* The first block's end: [magic][size][block 1]. */
    uint32_t b1 = (uint32_t)p.buf[4] | (uint32_t)p.buf[5] << 8 | (uint32_t)p.buf[6] << 16 |
                  (uint32_t)p.buf[7] << 24;
    size_t cut = 8 + b1;
    rc = run(p.buf, cut, VMM_COMPRESSION_LZ4, 64 * MiB, &out, &out_len);
    expect_output(rc, out, out_len, d, LZ4_BLOCK, "lz4 cut between blocks");
    /* Cut inside the next size field or block: truncated. */
    for (size_t extra = 1; extra < 64; extra += 3)
        assert_int_equal(run(p.buf, cut + extra, VMM_COMPRESSION_LZ4, 64 * MiB, &out, &out_len),
                         -ENOEXEC);
    /* A block size of 0 ends the stream (Linux's unlz4), whatever follows. */
    uint8_t *z = malloc(p.len + 8);
    assert_non_null(z);
    memcpy(z, p.buf, cut);
    put_le32(z + cut, 0);
    memcpy(z + cut + 4, p.buf + cut, p.len - cut);
    rc = run(z, p.len + 4, VMM_COMPRESSION_LZ4, 64 * MiB, &out, &out_len);
    expect_output(rc, out, out_len, d, LZ4_BLOCK, "lz4 zero block size");
    /* The magic where a block size belongs starts another frame: its blocks
     * continue the output. */
    put_le32(z + cut, 0x184C2102u);
    rc = run(z, p.len + 4, VMM_COMPRESSION_LZ4, 64 * MiB, &out, &out_len);
    expect_output(rc, out, out_len, d, n, "lz4 second frame magic");
    free(z);
    free(p.buf);
    free(d);
#else
    skip();
#endif
}

/* ---- truncation and corruption ---------------------------------------------- */

static void test_truncated_every_length(void **state)
{
    (void)state;
    size_t n = 2500;
    uint8_t *d = make_data(n, 4);
    for (const struct fmt *f = formats; f->name; f++) {
        struct packed p = pack(f, d, n);
        uint8_t *out;
        size_t out_len;
        for (size_t len = 0; len < p.stream_len; len++) {
            int rc = run(p.buf, len, f->compression, 64 * MiB, &out, &out_len);
            if (rc != -ENOEXEC)
                fail_msg("%s cut to %zu of %zu bytes: rc %d (%s), expected -ENOEXEC", f->name, len,
                         p.stream_len, rc, rc ? vmm_last_error() : "success");
        }
        /* Only part of the appended size: the stream is whole (an LZ4
         * legacy stream has no end mark: stray bytes are truncation). */
        for (size_t len = p.stream_len; len < p.len; len++) {
            int rc = run(p.buf, len, f->compression, 64 * MiB, &out, &out_len);
            if (f->compression == VMM_COMPRESSION_LZ4 && len > p.stream_len)
                assert_int_equal(rc, -ENOEXEC);
            else
                expect_output(rc, out, out_len, d, n, f->name);
        }
        /* The sentence says what is wrong. */
        assert_int_equal(run(p.buf, p.stream_len / 2, f->compression, 64 * MiB, &out, &out_len),
                         -ENOEXEC);
        assert_non_null(strstr(vmm_last_error(), "truncated"));
        assert_non_null(strstr(vmm_last_error(), vmm_loader_compression_name(f->compression)));
        free(p.buf);
    }
    free(d);
}

static void test_truncated_large(void **state)
{
    (void)state;
    size_t n = 300 * 1024;
    uint8_t *d = make_data(n, 5);
    for (const struct fmt *f = formats; f->name; f++) {
        struct packed p = pack(f, d, n);
        uint8_t *out;
        size_t out_len;
        for (size_t len = 0; len < p.stream_len; len += 1 + p.stream_len / 97)
            assert_int_equal(run(p.buf, len, f->compression, 64 * MiB, &out, &out_len), -ENOEXEC);
        assert_int_equal(run(p.buf, p.stream_len - 1, f->compression, 64 * MiB, &out, &out_len),
                         -ENOEXEC);
        free(p.buf);
    }
    free(d);
}

/* Every byte of a small stream flipped (two patterns): -ENOEXEC, or, where
 * the format does not check a field, success; never a crash or a leak. */
static void test_corrupt_bytes(void **state)
{
    (void)state;
    size_t n = 2000;
    uint8_t *d = make_data(n, 6);
    for (const struct fmt *f = formats; f->name; f++) {
        struct packed p = pack(f, d, n);
        uint8_t *out;
        size_t out_len;
        unsigned detected = 0, undetected = 0;
        for (size_t i = 0; i < p.stream_len; i++) {
            static const uint8_t flips[] = { 0x01, 0xa5 };
            for (size_t k = 0; k < sizeof flips; k++) {
                p.buf[i] ^= flips[k];
                int rc = run(p.buf, p.len, f->compression, 1 * MiB, &out, &out_len);
                p.buf[i] ^= flips[k];
                if (rc == 0) {
                    /* Not every bit matters (gzip's FTEXT flag, MTIME, XFL
                     * and OS, RFC 1952 §2.3; deflate's padding before a
                     * stored block), but where a CRC covers the output, an
                     * accepted flip must give the same output. */
                    if (f->checksummed && (out_len != n || memcmp(out, d, n) != 0))
                        fail_msg("%s byte %zu ^ %#x of %zu: accepted with different output",
                                 f->name, i, flips[k], p.stream_len);
                    undetected++;
                    free(out);
                } else {
                    /* A flipped size can also ask for more than max_out. */
                    if (rc != -ENOEXEC && rc != -ENOMEM)
                        fail_msg("%s byte %zu ^ %#x: rc %d (%s)", f->name, i, flips[k], rc,
                                 vmm_last_error());
                    detected++;
                }
            }
        }
        print_message("%s: %u of %u flips detected\n", f->name, detected, detected + undetected);
        assert_true(detected > 0);
        free(p.buf);
    }
    free(d);
}

/* Error sentences name the problem. */
static void test_error_messages(void **state)
{
    (void)state;
    size_t n = 5000;
    uint8_t *d = make_data(n, 7);
    uint8_t *out;
    size_t out_len;
    for (const struct fmt *f = formats; f->name; f++) {
        struct packed p = pack(f, d, n);
        /* Garbage with the right magic. */
        uint8_t *bad = malloc(p.len);
        assert_non_null(bad);
        memcpy(bad, p.buf, p.len);
        for (size_t i = 12; i < p.stream_len; i++)
            bad[i] = (uint8_t)(i * 7);
        assert_int_equal(run(bad, p.len, f->compression, 64 * MiB, &out, &out_len), -ENOEXEC);
        print_message("%s garbage: %s\n", f->name, vmm_last_error());
        assert_non_null(strstr(vmm_last_error(), vmm_loader_compression_name(f->compression)));
        assert_true(strstr(vmm_last_error(), "corrupt") || strstr(vmm_last_error(), "truncated"));
        /* The wrong format entirely. */
        memset(bad, 0, p.len);
        assert_int_equal(run(bad, p.len, f->compression, 64 * MiB, &out, &out_len), -ENOEXEC);
        free(bad);
        /* Truncated. */
        assert_int_equal(run(p.buf, p.stream_len - 5, f->compression, 64 * MiB, &out, &out_len),
                         -ENOEXEC);
        print_message("%s truncated: %s\n", f->name, vmm_last_error());
        /* Too big. */
        assert_int_equal(run(p.buf, p.len, f->compression, 4000, &out, &out_len), -ENOMEM);
        print_message("%s limit: %s\n", f->name, vmm_last_error());
        assert_non_null(strstr(vmm_last_error(), "4000"));
        free(p.buf);
    }
    free(d);
}

/* ---- bombs -------------------------------------------------------------------- */

#define BOMB_SIZE ((size_t)1 << 30) /* 1 GiB of zeros */
#define BOMB_LIMIT (16 * MiB)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Appends @len bytes to a growing buffer. */
struct sink {
    uint8_t *buf;
    size_t len, cap;
};

static void sink_put(struct sink *s, const void *p, size_t len)
{
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, p, len);
    s->len += len;
}

#ifdef VMM_HAVE_ZLIB
/* @total bytes of zeros (a power of two, >= 2 MiB) as one gzip member,
 * without compressing them all: after a Z_FULL_FLUSH deflate starts
 * afresh, so every further 1 MiB of zeros compresses to the same bytes;
 * the trailer's CRC comes from crc32_combine(). */
static struct sink gzip_bomb(size_t total)
{
    static uint8_t zeros[1 << 20];
    uint8_t chunk[8192];
    struct sink s = { NULL, 0, 0 };
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
                     Z_OK);
    size_t rep_at = 0, rep_len = 0;
    for (int i = 0; i < 2; i++) {
        size_t start = s.len;
        zs.next_in = zeros;
        zs.avail_in = sizeof zeros;
        do {
            zs.next_out = chunk;
            zs.avail_out = sizeof chunk;
            assert_int_equal(deflate(&zs, Z_FULL_FLUSH), Z_OK);
            sink_put(&s, chunk, sizeof chunk - zs.avail_out);
        } while (zs.avail_out == 0);
        rep_at = start;
        rep_len = s.len - start;
    }
    uint8_t *rep = malloc(rep_len); /* (sink_put() may move s.buf) */
    assert_non_null(rep);
    memcpy(rep, s.buf + rep_at, rep_len);
    for (size_t i = 2; i < total / sizeof zeros; i++)
        sink_put(&s, rep, rep_len);
    free(rep);
    zs.next_out = chunk;
    zs.avail_out = sizeof chunk;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    /* Z_FINISH wrote the final empty block and the trailer for 2 MiB: keep
     * the block, replace the trailer. */
    size_t tail = sizeof chunk - zs.avail_out;
    sink_put(&s, chunk, tail - 8);
    deflateEnd(&zs);
    uLong c1 = crc32(0, zeros, sizeof zeros), crc = c1;
    for (size_t have = sizeof zeros; have < total; have *= 2)
        crc = crc32_combine(crc, crc, (z_off_t)have);
    uint8_t trailer[8];
    put_le32(trailer, (uint32_t)crc);
    put_le32(trailer + 4, (uint32_t)total);
    sink_put(&s, trailer, 8);
    return s;
}
#endif

#ifdef VMM_HAVE_LZMA
/* @total bytes of zeros (a multiple of 8 MiB) as one .xz stream: copies
 * of one block holding 8 MiB,
 * with an index that lists them all (xz-file-format.txt §4, §6). */
static struct sink xz_bomb(size_t total)
{
    size_t blk_in = 8 * MiB;
    uint8_t *zeros = malloc(blk_in);
    assert_non_null(zeros);
    memset(zeros, 0, blk_in);
    lzma_options_lzma opt;
    lzma_filter f[3];
    xz_filters(f, &opt, 0);
    lzma_block block;
    memset(&block, 0, sizeof block);
    block.version = 0;
    block.check = LZMA_CHECK_CRC32;
    block.filters = f;
    size_t cap = lzma_block_buffer_bound(blk_in), blk_len = 0;
    uint8_t *blk = malloc(cap);
    assert_non_null(blk);
    assert_int_equal(lzma_block_buffer_encode(&block, NULL, zeros, blk_in, blk, &blk_len, cap),
                     LZMA_OK);
    free(zeros);

    lzma_stream_flags flags;
    memset(&flags, 0, sizeof flags);
    flags.version = 0;
    flags.check = LZMA_CHECK_CRC32;
    uint8_t hdr[LZMA_STREAM_HEADER_SIZE];
    assert_int_equal(lzma_stream_header_encode(&flags, hdr), LZMA_OK);
    struct sink s = { NULL, 0, 0 };
    sink_put(&s, hdr, sizeof hdr);
    lzma_index *idx = lzma_index_init(NULL);
    assert_non_null(idx);
    for (size_t i = 0; i < total / blk_in; i++) {
        sink_put(&s, blk, blk_len);
        assert_int_equal(lzma_index_append(idx, NULL, lzma_block_unpadded_size(&block),
                                           block.uncompressed_size), LZMA_OK);
    }
    free(blk);
    size_t isize = (size_t)lzma_index_size(idx), ipos = 0;
    uint8_t *ibuf = malloc(isize);
    assert_non_null(ibuf);
    assert_int_equal(lzma_index_buffer_encode(idx, ibuf, &ipos, isize), LZMA_OK);
    sink_put(&s, ibuf, ipos);
    free(ibuf);
    flags.backward_size = lzma_index_size(idx);
    lzma_index_end(idx, NULL);
    assert_int_equal(lzma_stream_footer_encode(&flags, hdr), LZMA_OK);
    sink_put(&s, hdr, sizeof hdr);
    return s;
}
#endif

#ifdef VMM_HAVE_ZSTD
/* @total bytes of zeros streamed into one frame: @pledge says whether the frame
 * header declares the size. */
static struct sink zstd_bomb(size_t total, int pledge)
{
    static uint8_t zeros[1 << 20];
    struct sink s = { NULL, 0, 0 };
    uint8_t chunk[65536];
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    assert_non_null(cc);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1)));
    if (pledge)
        assert_false(ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, total)));
    for (size_t i = 0; i < total / sizeof zeros; i++) {
        ZSTD_inBuffer zin = { zeros, sizeof zeros, 0 };
        int last = i + 1 == total / sizeof zeros;
        size_t left;
        do {
            ZSTD_outBuffer zout = { chunk, sizeof chunk, 0 };
            left = ZSTD_compressStream2(cc, &zout, &zin, last ? ZSTD_e_end : ZSTD_e_continue);
            assert_false(ZSTD_isError(left));
            sink_put(&s, chunk, zout.pos);
        } while (zin.pos < zin.size || (last && left != 0));
    }
    ZSTD_freeCCtx(cc);
    return s;
}
#endif

#ifdef VMM_HAVE_LZ4
/* @total bytes of zeros (a multiple of 8 MiB): one 8 MiB block of zeros,
 * repeated. */
static struct sink lz4_bomb(size_t total)
{
    uint8_t *zeros = malloc(LZ4_BLOCK);
    assert_non_null(zeros);
    memset(zeros, 0, LZ4_BLOCK);
    int cap = LZ4_compressBound((int)LZ4_BLOCK);
    uint8_t *blk = malloc((size_t)cap + 4);
    assert_non_null(blk);
    int r = LZ4_compress_default((const char *)zeros, (char *)blk + 4, (int)LZ4_BLOCK, cap);
    assert_true(r > 0);
    put_le32(blk, (uint32_t)r);
    free(zeros);
    struct sink s = { NULL, 0, 0 };
    uint8_t magic[4];
    put_le32(magic, 0x184C2102u);
    sink_put(&s, magic, 4);
    for (size_t i = 0; i < total / LZ4_BLOCK; i++)
        sink_put(&s, blk, (size_t)r + 4);
    free(blk);
    return s;
}
#endif

MAYBE_UNUSED static void bomb(struct sink s, uint32_t compression, const char *name)
{
    uint8_t size[4];
    put_le32(size, (uint32_t)BOMB_SIZE); /* the appended size, as Linux writes it */
    sink_put(&s, size, 4);
    uint8_t *out;
    size_t out_len;
    double t0 = now();
    int rc = run(s.buf, s.len, compression, BOMB_LIMIT, &out, &out_len);
    double dt = now() - t0;
    print_message("%s bomb: %zu bytes for 1 GiB; refused in %.0f ms, largest allocation %zu "
                  "bytes: %s\n", name, s.len, dt * 1e3, max_request, vmm_last_error());
    assert_int_equal(rc, -ENOMEM);
    assert_true(max_request <= BOMB_LIMIT);
    /* 16 MiB decoded at most; 1 GiB would take seconds. */
    assert_true(dt < 2.0);
    free(s.buf);
}

static void test_bombs(void **state)
{
    (void)state;
#ifdef VMM_HAVE_ZLIB
    bomb(gzip_bomb(BOMB_SIZE), VMM_COMPRESSION_GZIP, "gzip");
#endif
#ifdef VMM_HAVE_LZMA
    bomb(xz_bomb(BOMB_SIZE), VMM_COMPRESSION_XZ, "xz");
#endif
#ifdef VMM_HAVE_ZSTD
    bomb(zstd_bomb(BOMB_SIZE, 0), VMM_COMPRESSION_ZSTD, "zstd (size not declared)");
    bomb(zstd_bomb(BOMB_SIZE, 1), VMM_COMPRESSION_ZSTD, "zstd (size declared)");
#endif
#ifdef VMM_HAVE_LZ4
    bomb(lz4_bomb(BOMB_SIZE), VMM_COMPRESSION_LZ4, "lz4");
#endif
}

/* The bombs are well-formed: a smaller one of each decodes, with room. */
MAYBE_UNUSED static void valid_bomb(struct sink s, uint32_t compression, size_t total,
                                    const char *name)
{
    uint8_t *out;
    size_t out_len;
    int rc = run(s.buf, s.len, compression, total, &out, &out_len);
    if (rc != 0)
        fail_msg("%s bomb of %zu bytes: %s", name, total, vmm_last_error());
    assert_int_equal(out_len, total);
    for (size_t i = 0; i < total; i += 4093)
        assert_int_equal(out[i], 0);
    assert_int_equal(out[total - 1], 0);
    free(out);
    free(s.buf);
}

static void test_bombs_are_valid(void **state)
{
    (void)state;
    size_t total = 64 * MiB;
    (void)total;
#ifdef VMM_HAVE_ZLIB
    valid_bomb(gzip_bomb(total), VMM_COMPRESSION_GZIP, total, "gzip");
#endif
#ifdef VMM_HAVE_LZMA
    valid_bomb(xz_bomb(total), VMM_COMPRESSION_XZ, total, "xz");
#endif
#ifdef VMM_HAVE_ZSTD
    valid_bomb(zstd_bomb(total, 0), VMM_COMPRESSION_ZSTD, total, "zstd");
    valid_bomb(zstd_bomb(total, 1), VMM_COMPRESSION_ZSTD, total, "zstd");
#endif
#ifdef VMM_HAVE_LZ4
    valid_bomb(lz4_bomb(total), VMM_COMPRESSION_LZ4, total, "lz4");
#endif
}

/* ---- detection, names, builds without a decompressor ------------------------ */

static void test_magic_detection(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        uint32_t want;
        const char *name;
    } cases[] = {
        { "\x7f" "ELF\x02\x01\x01", 7, VMM_COMPRESSION_NONE, "none" },
        { "\x1f\x8b\x08\x00", 4, VMM_COMPRESSION_GZIP, "gzip" },
        { "\xfd" "7zXZ\x00\x00\x01", 8, VMM_COMPRESSION_XZ, "xz" },
        { "\x28\xb5\x2f\xfd\x24", 5, VMM_COMPRESSION_ZSTD, "zstd" },
        { "\x02\x21\x4c\x18\x10\x00", 6, VMM_COMPRESSION_LZ4, "lz4" },
        { "BZh91AY&SY", 10, VMM_COMPRESSION_BZIP2, "bzip2" },
        { "\x5d\x00\x00\x80\x00", 5, VMM_COMPRESSION_LZMA, "lzma" },
        { "\x89\x4c\x5a\x4f\x00", 5, VMM_COMPRESSION_LZO, "lzo" },
        { "MZ\x90\x00", 4, VMM_COMPRESSION_UNKNOWN, "unknown" },
        /* Magic cut short is not the format. */
        { "\x7f" "EL", 3, VMM_COMPRESSION_UNKNOWN, "unknown" },
        { "\x1f", 1, VMM_COMPRESSION_UNKNOWN, "unknown" },
        { "\xfd" "7zXZ", 5, VMM_COMPRESSION_UNKNOWN, "unknown" },
        { "\x28\xb5\x2f", 3, VMM_COMPRESSION_UNKNOWN, "unknown" },
        { "\x02\x21\x4c", 3, VMM_COMPRESSION_UNKNOWN, "unknown" },
        { "BZ", 2, VMM_COMPRESSION_UNKNOWN, "unknown" },
        { "\x5d\x00", 2, VMM_COMPRESSION_UNKNOWN, "unknown" },
        { "\x89\x4c\x5a", 3, VMM_COMPRESSION_UNKNOWN, "unknown" },
        /* The modern LZ4 frame (04 22 4d 18) is not what Linux uses. */
        { "\x04\x22\x4d\x18", 4, VMM_COMPRESSION_UNKNOWN, "unknown" },
        { "", 0, VMM_COMPRESSION_UNKNOWN, "unknown" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* An exact-size copy: detection reads only what it is given. */
        uint8_t *b = malloc(cases[i].len ? cases[i].len : 1);
        assert_non_null(b);
        memcpy(b, cases[i].bytes, cases[i].len);
        uint32_t got = vmm_loader_compression(b, cases[i].len);
        free(b);
        if (got != cases[i].want)
            fail_msg("case %zu: detected %u, expected %u", i, got, cases[i].want);
        assert_string_equal(vmm_loader_compression_name(got), cases[i].name);
    }
    assert_string_equal(vmm_loader_compression_name(1234), "unknown");
}

struct lib {
    uint32_t compression;
    const char *library;
    int built;
    int feature;
};

static const struct lib libs[] = {
#ifdef VMM_HAVE_ZLIB
    { VMM_COMPRESSION_GZIP, "zlib", 1, VMM_FEATURE_EXTRACT_GZIP },
#else
    { VMM_COMPRESSION_GZIP, "zlib", 0, VMM_FEATURE_EXTRACT_GZIP },
#endif
#ifdef VMM_HAVE_LZMA
    { VMM_COMPRESSION_XZ, "liblzma", 1, VMM_FEATURE_EXTRACT_XZ },
#else
    { VMM_COMPRESSION_XZ, "liblzma", 0, VMM_FEATURE_EXTRACT_XZ },
#endif
#ifdef VMM_HAVE_ZSTD
    { VMM_COMPRESSION_ZSTD, "libzstd", 1, VMM_FEATURE_EXTRACT_ZSTD },
#else
    { VMM_COMPRESSION_ZSTD, "libzstd", 0, VMM_FEATURE_EXTRACT_ZSTD },
#endif
#ifdef VMM_HAVE_LZ4
    { VMM_COMPRESSION_LZ4, "liblz4", 1, VMM_FEATURE_EXTRACT_LZ4 },
#else
    { VMM_COMPRESSION_LZ4, "liblz4", 0, VMM_FEATURE_EXTRACT_LZ4 },
#endif
};

static void test_not_built_or_not_extracted(void **state)
{
    (void)state;
    static const uint8_t junk[64] = { 0 };
    uint8_t *out;
    size_t out_len;
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        const struct lib *l = &libs[i];
        assert_int_equal(vmm_loader_can_extract(l->compression), l->built);
        assert_int_equal(vmm_has_feature(l->feature), l->built);
        if (l->built)
            continue;
        assert_int_equal(run(junk, sizeof junk, l->compression, 64 * MiB, &out, &out_len),
                         -ENOTSUP);
        assert_non_null(strstr(vmm_last_error(), l->library));
        assert_non_null(strstr(vmm_last_error(), "built without"));
    }
    static const uint32_t never[] = { VMM_COMPRESSION_BZIP2, VMM_COMPRESSION_LZMA,
                                      VMM_COMPRESSION_LZO, VMM_COMPRESSION_NONE,
                                      VMM_COMPRESSION_UNKNOWN, 77 };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        assert_false(vmm_loader_can_extract(never[i]));
        assert_int_equal(run(junk, sizeof junk, never[i], 64 * MiB, &out, &out_len), -ENOTSUP);
        if (never[i] <= VMM_COMPRESSION_LZO && never[i] != VMM_COMPRESSION_NONE)
            assert_non_null(strstr(vmm_last_error(), vmm_loader_compression_name(never[i])));
    }
    assert_int_equal(vmm_loader_decompress(junk, sizeof junk, VMM_COMPRESSION_GZIP, 100, NULL,
                                           &out_len, WHAT), -EINVAL);
    assert_int_equal(vmm_loader_decompress(NULL, 10, VMM_COMPRESSION_GZIP, 100, &out, &out_len,
                                           WHAT), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_magic_detection),
        cmocka_unit_test(test_not_built_or_not_extracted),
        cmocka_unit_test(test_round_trip_small),
        cmocka_unit_test(test_round_trip_large),
        cmocka_unit_test(test_lz4_multi_block),
        cmocka_unit_test(test_truncated_every_length),
        cmocka_unit_test(test_truncated_large),
        cmocka_unit_test(test_corrupt_bytes),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_bombs),
        cmocka_unit_test(test_bombs_are_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
