/*
 * The chunker's inner loop in C (src/chunker/fastcdc.ts holds the algorithm and its reference
 * implementation in TypeScript; both must find the same cut points, which
 * test/unit/chunker-native.test.ts checks on random data and random push sizes).
 *
 * Why native: the gear hash is one dependent add and shift per byte. V8 runs it at about
 * 0.6 GiB/s; C at several times that, and it is most of a big write's CPU on the blob thread.
 *
 * findCut(buffer, base, end, gear, state) scans buffer[base + scanned .. base + end) for the
 * next cut of the chunk that starts at `base`. state is a Uint32Array:
 *   [0] hash so far, [1] bytes of the chunk already hashed (scanned), [2] minSize,
 *   [3] avgSize, [4] maxSize, [5] strict mask, [6] loose mask.
 * Returns the cut (the chunk's length) or -1 when more data is needed; then state[0..1]
 * hold where to resume. Stateless otherwise, so any thread may load it.
 */
#include <node_api.h>
#include <stdint.h>
#include <stddef.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "cairn chunker: " #call " failed"); return NULL; } } while (0)

enum { S_HASH, S_SCANNED, S_MIN, S_AVG, S_MAX, S_STRICT, S_LOOSE, S_FIELDS };

static int64_t find_cut(const uint8_t *chunk, uint32_t end, const uint32_t *gear, uint32_t *state) {
  const uint32_t min = state[S_MIN], avg = state[S_AVG], max = state[S_MAX];
  const uint32_t strict = state[S_STRICT], loose = state[S_LOOSE];
  if (end <= min) return -1;
  uint32_t h = state[S_HASH];
  uint32_t i = state[S_SCANNED];
  /* The first minSize bytes are never a cut; the hash needs only the last 32 of them. */
  if (i < min - 32) i = min - 32;
  uint32_t stop = end < min ? end : min;
  for (; i < stop; i++) h = (h << 1) + gear[chunk[i]];
  stop = end < avg ? end : avg;
  for (; i < stop; i++) {
    h = (h << 1) + gear[chunk[i]];
    if ((h & strict) == 0) goto cut;
  }
  stop = end < max ? end : max;
  for (; i < stop; i++) {
    h = (h << 1) + gear[chunk[i]];
    if ((h & loose) == 0) goto cut;
  }
  if (end >= max) { state[S_HASH] = 0; state[S_SCANNED] = 0; return max; }
  state[S_HASH] = h;
  state[S_SCANNED] = i;
  return -1;
cut:
  state[S_HASH] = 0;
  state[S_SCANNED] = 0;
  return (int64_t)i + 1;
}

static int typed(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value arraybuffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, data, &arraybuffer, &offset) != napi_ok) return 0;
  return type == want || (want == napi_uint8_array && type == napi_uint8_clamped_array);
}

static napi_value js_find_cut(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *buffer, *gear, *state;
  size_t buffer_length, gear_length, state_length;
  uint32_t base, end;
  if (argc < 5 || !typed(env, argv[0], napi_uint8_array, &buffer, &buffer_length) ||
      napi_get_value_uint32(env, argv[1], &base) != napi_ok || napi_get_value_uint32(env, argv[2], &end) != napi_ok ||
      !typed(env, argv[3], napi_uint32_array, &gear, &gear_length) || gear_length != 256 ||
      !typed(env, argv[4], napi_uint32_array, &state, &state_length) || state_length != S_FIELDS) {
    napi_throw_type_error(env, NULL, "findCut(buffer, base, end, gear[256], state[7])");
    return NULL;
  }
  const uint32_t *s = state;
  if ((size_t)base + end > buffer_length || s[S_MIN] < 32 || s[S_MIN] > s[S_AVG] || s[S_AVG] > s[S_MAX]) {
    napi_throw_range_error(env, NULL, "findCut: range outside the buffer or bad sizes");
    return NULL;
  }
  int64_t cut = find_cut((const uint8_t *)buffer + base, end, gear, state);
  CHECK(napi_create_double(env, (double)cut, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  CHECK(napi_create_function(env, "findCut", NAPI_AUTO_LENGTH, js_find_cut, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "findCut", fn));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
