/*
 * zstd for blobs (docs/FORMAT.md "Blob encodings"), as two synchronous calls into the system's
 * libzstd (Debian's libzstd-dev). src/format/blob-codec.ts is the only caller.
 *
 * Why our own binding: most blobs are small files, and the npm bindings cost 100-130 µs of CPU
 * per call (a task on libuv's pool, a fresh zstd context each time) where zstd itself needs a
 * few µs for a 2 KiB blob (docs/BENCHMARKS.md, session 14). Here each thread keeps one
 * compression and one decompression context, and a call does only zstd's work.
 *
 *   compress(src, level) -> Buffer | null
 *     One frame at `level` with the content size and no checksum or dictionary; null when
 *     the frame would not be shorter than src (the blob is then stored raw).
 *   sampleEntropy(src, slices, sliceBytes) -> bits per byte (see below)
 *   decompress(frame, length) -> Buffer
 *     The frame's content, which must be exactly `length` bytes (the blob's length from its
 *     authenticated index entry): never more memory than that, whatever the frame claims.
 *     Throws an Error naming zstd's reason otherwise.
 *
 * Contexts live in the addon's instance data, one per thread (Node loads an addon once per
 * thread that requires it), freed when the thread ends.
 */
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "cairn zstd: " #call " failed"); return NULL; } } while (0)

/* A compression output buffer above this is freed after the call instead of kept. */
#define KEEP_SCRATCH_BYTES (8u << 20)

typedef struct {
  ZSTD_CCtx *cctx;
  ZSTD_DCtx *dctx;
  void *scratch;
  size_t scratch_size;
} contexts;

static void free_contexts(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  contexts *c = data;
  ZSTD_freeCCtx(c->cctx);
  ZSTD_freeDCtx(c->dctx);
  free(c->scratch);
  free(c);
}

static contexts *contexts_of(napi_env env) {
  contexts *c = NULL;
  if (napi_get_instance_data(env, (void **)&c) != napi_ok || c == NULL) {
    napi_throw_error(env, NULL, "cairn zstd: no contexts for this thread");
    return NULL;
  }
  return c;
}

/* The bytes of a Uint8Array (a Buffer is one); 0 for anything else. */
static int bytes_of(napi_env env, napi_value value, void **data, size_t *size) {
  bool is_typed = false;
  napi_typedarray_type type = napi_int8_array;
  napi_value arraybuffer;
  size_t offset;
  return napi_is_typedarray(env, value, &is_typed) == napi_ok && is_typed &&
         napi_get_typedarray_info(env, value, &type, size, data, &arraybuffer, &offset) == napi_ok && type == napi_uint8_array;
}

/* compress and decompress take (Uint8Array, integer >= 0); otherwise throws a TypeError showing `usage`. */
static int parse_arguments(napi_env env, napi_callback_info info, const char *usage, void **data, size_t *size, int64_t *number) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !bytes_of(env, argv[0], data, size) ||
      napi_get_value_int64(env, argv[1], number) != napi_ok || *number < 0) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

/* A call's arguments and this thread's contexts, or NULL with an exception pending. */
static contexts *start_call(napi_env env, napi_callback_info info, const char *usage, void **data, size_t *size, int64_t *number) {
  return parse_arguments(env, info, usage, data, size, number) ? contexts_of(env) : NULL;
}

static napi_value compress(napi_env env, napi_callback_info info) {
  void *src;
  size_t src_size;
  int64_t level;
  contexts *c = start_call(env, info, "cairn zstd: compress(Uint8Array, level)", &src, &src_size, &level);
  if (!c) return NULL;
  napi_value result;
  /* A frame of src_size bytes or more is of no use: room for one byte less. */
  if (src_size < 2) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  size_t room = src_size - 1;
  if (c->scratch_size < room) {
    free(c->scratch);
    c->scratch_size = 0;
    c->scratch = malloc(room);
    if (!c->scratch) {
      napi_throw_error(env, "ENOMEM", "cairn zstd: out of memory");
      return NULL;
    }
    c->scratch_size = room;
  }
  size_t made = ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, (int)level);
  if (!ZSTD_isError(made)) made = ZSTD_compress2(c->cctx, c->scratch, room, src, src_size);
  if (ZSTD_isError(made)) {
    if (ZSTD_getErrorCode(made) == ZSTD_error_dstSize_tooSmall) {
      CHECK(napi_get_null(env, &result));
    } else {
      napi_throw_error(env, NULL, ZSTD_getErrorName(made));
      return NULL;
    }
  } else {
    void *out;
    CHECK(napi_create_buffer_copy(env, made, c->scratch, &out, &result));
  }
  if (c->scratch_size > KEEP_SCRATCH_BYTES) {
    free(c->scratch);
    c->scratch = NULL;
    c->scratch_size = 0;
  }
  return result;
}

static napi_value decompress(napi_env env, napi_callback_info info) {
  void *frame;
  size_t frame_size;
  int64_t length;
  contexts *c = start_call(env, info, "cairn zstd: decompress(Uint8Array, length)", &frame, &frame_size, &length);
  if (!c) return NULL;
  /* One frame, all of it (FORMAT.md): nothing before, after or between. */
  size_t frame_length = ZSTD_findFrameCompressedSize(frame, frame_size);
  if (ZSTD_isError(frame_length) || frame_length != frame_size) {
    napi_throw_error(env, NULL, ZSTD_isError(frame_length) ? ZSTD_getErrorName(frame_length) : "bytes follow the zstd frame");
    return NULL;
  }
  unsigned long long claimed = ZSTD_getFrameContentSize(frame, frame_size);
  if (claimed == ZSTD_CONTENTSIZE_ERROR) {
    napi_throw_error(env, NULL, "not a zstd frame");
    return NULL;
  }
  if (claimed != ZSTD_CONTENTSIZE_UNKNOWN && claimed != (unsigned long long)length) {
    char message[96];
    snprintf(message, sizeof message, "the frame holds %llu bytes, not %lld", claimed, (long long)length);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  void *out;
  napi_value result;
  CHECK(napi_create_buffer(env, (size_t)length, &out, &result));
  size_t made = ZSTD_decompressDCtx(c->dctx, out, (size_t)length, frame, frame_size);
  if (ZSTD_isError(made)) {
    napi_throw_error(env, NULL, ZSTD_getErrorName(made));
    return NULL;
  }
  if (made != (size_t)length) {
    char message[96];
    snprintf(message, sizeof message, "the frame holds %zu bytes, not %lld", made, (long long)length);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  return result;
}

/*
 * sampleEntropy(src, slices, sliceBytes) -> bits per byte: the order-0 entropy of src, or of
 * `slices` slices of `sliceBytes` spread evenly across it when src is longer than those
 * together (the first at 0, the last ending at src's end). blob-codec.ts's looksRandom
 * compares it with random data's; the counting loop ran at about 25 µs a blob in JavaScript.
 */
static napi_value sample_entropy(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t n = 0;
  void *data = NULL;
  uint32_t slices = 0, slice_bytes = 0;
  if (argc < 3 || !bytes_of(env, argv[0], &data, &n) ||
      napi_get_value_uint32(env, argv[1], &slices) != napi_ok || napi_get_value_uint32(env, argv[2], &slice_bytes) != napi_ok || slices < 2 || slice_bytes == 0) {
    napi_throw_type_error(env, NULL, "cairn zstd: sampleEntropy(Uint8Array, slices >= 2, sliceBytes >= 1)");
    return NULL;
  }
  const uint8_t *bytes = data;
  uint32_t counts[256] = { 0 };
  size_t counted = n;
  if (n <= (size_t)slices * slice_bytes) {
    for (size_t i = 0; i < n; i++) counts[bytes[i]]++;
  } else {
    counted = (size_t)slices * slice_bytes;
    size_t step = (n - slice_bytes) / (slices - 1);
    for (uint32_t s = 0; s < slices; s++) {
      const uint8_t *slice = bytes + s * step;
      for (uint32_t i = 0; i < slice_bytes; i++) counts[slice[i]]++;
    }
  }
  double bits = 0;
  for (int b = 0; b < 256; b++) {
    if (counts[b]) bits -= counts[b] * log2((double)counts[b] / (double)counted);
  }
  napi_value result;
  CHECK(napi_create_double(env, counted ? bits / (double)counted : 0, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  contexts *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->cctx = ZSTD_createCCtx();
  c->dctx = ZSTD_createDCtx();
  if (!c->cctx || !c->dctx || napi_set_instance_data(env, c, free_contexts, NULL) != napi_ok) {
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c);
    napi_throw_error(env, NULL, "cairn zstd: cannot make zstd contexts");
    return NULL;
  }
  napi_property_descriptor props[] = {
    { "compress", NULL, compress, NULL, NULL, NULL, napi_default, NULL },
    { "decompress", NULL, decompress, NULL, NULL, NULL, napi_default, NULL },
    { "sampleEntropy", NULL, sample_entropy, NULL, NULL, NULL, napi_default, NULL },
    { "version", NULL, NULL, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_value version;
  if (napi_create_string_utf8(env, ZSTD_versionString(), NAPI_AUTO_LENGTH, &version) != napi_ok) return NULL;
  props[3].value = version;
  if (napi_define_properties(env, exports, 4, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
