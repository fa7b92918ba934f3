/*
 * cairn's FUSE binding: libfuse2's low-level API, driven from Node's event loop.
 *
 * Why not fuse-native's high-level binding: libfuse's path API gives every name of a file
 * its own kernel inode, so kernel attribute caching breaks hard links, and every request
 * crosses from a libfuse thread to the JS thread and back (a semaphore round trip). Here
 * the kernel's node id is the file's id (one kernel inode per file, hard links included),
 * so attributes and names can be cached correctly, and /dev/fuse is read on the JS thread
 * itself (a uv_poll watcher): a request is handed to JS with no thread switch, and JS
 * answers whenever it is ready, synchronously or after an await, with many in flight.
 *
 * JS side: src/fuse/lowlevel.ts. Protocol: the dispatch function gets (op, slot, args...);
 * the request waits in `slot` until JS calls one reply function with that slot. Each
 * request's caller (uid, gid, pid, umask) is written into CALLER before dispatch. Stat
 * results travel through the shared STAT array (see fill_stat) to avoid allocations.
 */
#define FUSE_USE_VERSION 29
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "cairn fuse binding: " #call " failed"); return NULL; } } while (0)

/* Operation codes, mirrored in src/fuse/lowlevel.ts (keep the numbers in step). */
enum {
  OP_LOOKUP = 1, OP_FORGET, OP_GETATTR, OP_SETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR, OP_UNLINK,
  OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_LINK, OP_OPEN, OP_READ, OP_WRITE, OP_RELEASE, OP_FSYNC,
  OP_OPENDIR, OP_READDIR, OP_RELEASEDIR, OP_STATFS, OP_SETXATTR, OP_GETXATTR, OP_LISTXATTR,
  OP_REMOVEXATTR, OP_ACCESS, OP_CREATE
};

/* STAT layout (Float64Array): ino as two 32-bit halves (history ids use bit 63), then the rest. */
enum { F_INO_HI, F_INO_LO, F_MODE, F_NLINK, F_UID, F_GID, F_RDEV, F_SIZE, F_BLOCKS, F_BLKSIZE,
       F_ATIME, F_ATIME_NS, F_MTIME, F_MTIME_NS, F_CTIME, F_CTIME_NS, F_FIELDS };

/* The largest write request (see "The channel"), and the channel's receive buffer for it. */
#define MAX_WRITE_BYTES (1024 * 1024)
#define RECEIVE_BUFFER_BYTES (MAX_WRITE_BYTES + 4096)

/* Write requests' bytes are lent to JS in buffers of this size (see ll_write). */
#define WRITE_BUFFERS 16
#define WRITE_BUFFER_SIZE MAX_WRITE_BYTES

/* Requests waiting for JS: slot -> fuse_req_t, with a free list. */
typedef struct {
  fuse_req_t *reqs;
  int32_t *free_list;
  uint32_t capacity, free_count;
} slots_t;

typedef struct {
  napi_env env;
  napi_ref dispatch, ended, resource;
  napi_async_context async;
  struct fuse_session *se;
  struct fuse_chan *kernel_ch; /* fuse_mount's channel: owns the fd; unmounts */
  struct fuse_chan *ch;        /* the session's channel (see "The channel" below) */
  uint64_t init_unique;        /* the INIT request whose reply gets max_pages, or 0 */
  char *mountpoint;
  char *buf;
  size_t bufsize;
  uv_poll_t poll;
  int polling, unmounted;
  /* Write buffers (see ll_write): WRITE_BUFFERS pieces of one ArrayBuffer that JS keeps. */
  napi_ref write_pool;
  uint8_t *write_memory;
  int32_t write_free[WRITE_BUFFERS];
  uint8_t write_taken[WRITE_BUFFERS];
  int write_free_count;
  /* WRITE requests that got a buffer of their own (none lent free, or too big): see ll_write. */
  double write_copies;
} session_t;

static slots_t slots;
static double *stat_scratch;     /* the STAT array's memory */
static uint32_t *caller_scratch; /* the CALLER array's memory */
static session_t *current;       /* one mount per process */

static int32_t slot_take(fuse_req_t req) {
  if (slots.free_count == 0) {
    uint32_t grown = slots.capacity ? slots.capacity * 2 : 256;
    slots.reqs = realloc(slots.reqs, grown * sizeof *slots.reqs);
    slots.free_list = realloc(slots.free_list, grown * sizeof *slots.free_list);
    for (uint32_t i = grown; i > slots.capacity; i--) slots.free_list[slots.free_count++] = (int32_t)(i - 1);
    for (uint32_t i = slots.capacity; i < grown; i++) slots.reqs[i] = NULL;
    slots.capacity = grown;
  }
  int32_t slot = slots.free_list[--slots.free_count];
  slots.reqs[slot] = req;
  return slot;
}

/* The request in `slot`, taken out of the table; NULL when already answered or unmounted. */
static fuse_req_t slot_release(int32_t slot) {
  if (slot < 0 || (uint32_t)slot >= slots.capacity) return NULL;
  fuse_req_t req = slots.reqs[slot];
  if (!req) return NULL;
  slots.reqs[slot] = NULL;
  slots.free_list[slots.free_count++] = slot;
  if (current && current->unmounted) return NULL; /* the channel is gone: nothing to answer on */
  return req;
}

/* ---- calling JS ------------------------------------------------------------------------ */

typedef struct { napi_value v[12]; size_t n; } args_t;

static void arg_num(args_t *a, double d) { napi_create_double(current->env, d, &a->v[a->n++]); }
static void arg_int(args_t *a, int32_t i) { napi_create_int32(current->env, i, &a->v[a->n++]); }
static void arg_str(args_t *a, const char *s) { napi_create_string_utf8(current->env, s, NAPI_AUTO_LENGTH, &a->v[a->n++]); }

static void publish_caller(fuse_req_t req) {
  const struct fuse_ctx *ctx = fuse_req_ctx(req);
  caller_scratch[0] = ctx->uid;
  caller_scratch[1] = ctx->gid;
  caller_scratch[2] = (uint32_t)ctx->pid;
  caller_scratch[3] = ctx->umask;
}

/*
 * Hands a request to JS: dispatch(op, slot, ...args). A handler that throws leaves the
 * request unanswered; it is answered EIO here so the caller never hangs.
 */
static void dispatch(fuse_req_t req, int op, args_t *a) {
  napi_env env = current->env;
  publish_caller(req);
  int32_t slot = slot_take(req);
  napi_value argv[14], fn, global, result;
  napi_create_int32(env, op, &argv[0]);
  napi_create_int32(env, slot, &argv[1]);
  for (size_t i = 0; i < a->n; i++) argv[i + 2] = a->v[i];
  napi_get_reference_value(env, current->dispatch, &fn);
  napi_get_global(env, &global);
  if (napi_call_function(env, global, fn, a->n + 2, argv, &result) != napi_ok) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    fprintf(stderr, "cairn: a FUSE handler threw (operation %d); answered EIO\n", op);
    fuse_req_t pending = slot_release(slot);
    if (pending) fuse_reply_err(pending, EIO);
  }
}

/* ---- the low-level operations: arguments to JS ------------------------------------------ */

static double fh_of(struct fuse_file_info *fi) { return fi ? (double)fi->fh : -1; }

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  args_t a = {.n = 0}; arg_num(&a, (double)parent); arg_str(&a, name); dispatch(req, OP_LOOKUP, &a);
}
static void ll_forget(fuse_req_t req, fuse_ino_t ino, unsigned long nlookup) {
  fuse_reply_none(req);
  /* No answer expected: tell JS with slot -1 (a history node's id may be dropped). */
  napi_env env = current->env;
  napi_value argv[4], fn, global, result;
  napi_create_int32(env, OP_FORGET, &argv[0]);
  napi_create_int32(env, -1, &argv[1]);
  napi_create_double(env, (double)ino, &argv[2]);
  napi_create_double(env, (double)nlookup, &argv[3]);
  napi_get_reference_value(env, current->dispatch, &fn);
  napi_get_global(env, &global);
  if (napi_call_function(env, global, fn, 4, argv, &result) != napi_ok) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
  }
}
static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_num(&a, fh_of(fi)); dispatch(req, OP_GETATTR, &a);
}
static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  args_t a = {.n = 0};
  arg_num(&a, (double)ino);
  arg_int(&a, to_set);
  arg_num(&a, attr->st_mode & 07777);
  arg_num(&a, attr->st_uid);
  arg_num(&a, attr->st_gid);
  arg_num(&a, (double)attr->st_size);
  /* Times as seconds and nanoseconds; JS joins them exactly with BigInt. */
  arg_num(&a, (double)attr->st_atim.tv_sec);
  arg_num(&a, (double)attr->st_atim.tv_nsec);
  arg_num(&a, (double)attr->st_mtim.tv_sec);
  arg_num(&a, (double)attr->st_mtim.tv_nsec);
  arg_num(&a, fh_of(fi));
  dispatch(req, OP_SETATTR, &a);
}
static void ll_readlink(fuse_req_t req, fuse_ino_t ino) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); dispatch(req, OP_READLINK, &a);
}
static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  args_t a = {.n = 0}; arg_num(&a, (double)parent); arg_str(&a, name); arg_num(&a, mode); arg_num(&a, (double)rdev);
  dispatch(req, OP_MKNOD, &a);
}
static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  args_t a = {.n = 0}; arg_num(&a, (double)parent); arg_str(&a, name); arg_num(&a, mode); dispatch(req, OP_MKDIR, &a);
}
static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  args_t a = {.n = 0}; arg_num(&a, (double)parent); arg_str(&a, name); dispatch(req, OP_UNLINK, &a);
}
static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  args_t a = {.n = 0}; arg_num(&a, (double)parent); arg_str(&a, name); dispatch(req, OP_RMDIR, &a);
}
static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  args_t a = {.n = 0}; arg_str(&a, link); arg_num(&a, (double)parent); arg_str(&a, name); dispatch(req, OP_SYMLINK, &a);
}
static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname) {
  args_t a = {.n = 0}; arg_num(&a, (double)parent); arg_str(&a, name); arg_num(&a, (double)newparent); arg_str(&a, newname);
  dispatch(req, OP_RENAME, &a);
}
static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_num(&a, (double)newparent); arg_str(&a, newname); dispatch(req, OP_LINK, &a);
}
static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_int(&a, fi->flags); dispatch(req, OP_OPEN, &a);
}
static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_num(&a, (double)size); arg_num(&a, (double)off); arg_num(&a, fh_of(fi));
  dispatch(req, OP_READ, &a);
}
/*
 * `buf` lives in the receive buffer, which the next request overwrites: JS gets a copy. The
 * copy goes into one of the session's write buffers, lent until JS calls
 * releaseWriteBuffer(index) once the write has settled: a fresh 128 KiB buffer per request
 * cost a malloc'd (mmap'd) allocation, its page faults and garbage collections driven by
 * external memory, about a second of the JS thread per GiB. With none free (many writes
 * waiting at once), or a bigger request, JS gets a buffer of its own and index -1.
 */
static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  session_t *s = current;
  napi_env env = s->env;
  args_t a = {.n = 0};
  arg_num(&a, (double)ino);
  int32_t index = -1;
  if (size <= WRITE_BUFFER_SIZE && s->write_free_count > 0) {
    napi_value pool;
    if (napi_get_reference_value(env, s->write_pool, &pool) == napi_ok && pool != NULL) {
      index = s->write_free[--s->write_free_count];
      s->write_taken[index] = 1;
      memcpy(s->write_memory + (size_t)index * WRITE_BUFFER_SIZE, buf, size);
      napi_create_typedarray(env, napi_uint8_array, size, pool, (size_t)index * WRITE_BUFFER_SIZE, &a.v[a.n++]);
    }
  }
  if (index < 0) {
    void *data;
    napi_create_buffer_copy(env, size, buf, &data, &a.v[a.n++]);
    s->write_copies++;
  }
  arg_num(&a, (double)off);
  arg_num(&a, fh_of(fi));
  arg_int(&a, index);
  dispatch(req, OP_WRITE, &a);
}
static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino; (void)fi;
  fuse_reply_err(req, 0); /* nothing to do at close: data is staged on write, durable on fsync */
}
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_num(&a, fh_of(fi)); dispatch(req, OP_RELEASE, &a);
}
static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_int(&a, datasync); arg_num(&a, fh_of(fi)); dispatch(req, OP_FSYNC, &a);
}
static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_int(&a, fi->flags); dispatch(req, OP_OPENDIR, &a);
}
static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_num(&a, (double)size); arg_num(&a, (double)off); arg_num(&a, fh_of(fi));
  dispatch(req, OP_READDIR, &a);
}
static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_num(&a, fh_of(fi)); dispatch(req, OP_RELEASEDIR, &a);
}
static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  (void)ino; (void)datasync; (void)fi;
  fuse_reply_err(req, 0); /* names are journaled before they are answered */
}
static void ll_statfs(fuse_req_t req, fuse_ino_t ino) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); dispatch(req, OP_STATFS, &a);
}
static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  args_t a = {.n = 0};
  arg_num(&a, (double)ino);
  arg_str(&a, name);
  void *data;
  napi_create_buffer_copy(current->env, size, value, &data, &a.v[a.n++]);
  arg_int(&a, flags);
  dispatch(req, OP_SETXATTR, &a);
}
/*
 * Live files that carry a file capability (security.capability). The kernel asks for that
 * attribute before every write(), to remove it from a file being changed: a full round trip
 * to JS per write, half of all requests for a program writing 4 KiB at a time. Files not in
 * this set are answered ENODATA here. JS adds a file when it answers a lookup of it or sets
 * the attribute, and removes it when the attribute is removed (src/fuse/adapter.ts); the
 * kernel can only ask about nodes it got from a lookup. Node ids from 2^52 up are snapshot
 * views, always asked of JS. Rare, so a plain list.
 */
static double num_arg(napi_env env, napi_value v);
static uint64_t *capability_ids;
static size_t capability_count, capability_room;
#define FIRST_HISTORY_NODE (1ULL << 52)

static ssize_t capability_at(uint64_t ino) {
  for (size_t i = 0; i < capability_count; i++)
    if (capability_ids[i] == ino) return (ssize_t)i;
  return -1;
}

/* markCapability(nodeId, has): whether live file nodeId carries security.capability. */
static napi_value js_mark_capability(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint64_t ino = (uint64_t)num_arg(env, argv[0]);
  int has = num_arg(env, argv[1]) != 0;
  ssize_t at = capability_at(ino);
  if (has && at < 0) {
    if (capability_count == capability_room) {
      size_t room = capability_room ? 2 * capability_room : 16;
      uint64_t *grown = realloc(capability_ids, room * sizeof *grown);
      if (!grown) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
      }
      capability_ids = grown;
      capability_room = room;
    }
    capability_ids[capability_count++] = ino;
  } else if (!has && at >= 0) {
    capability_ids[at] = capability_ids[--capability_count];
  }
  return NULL;
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  if ((uint64_t)ino < FIRST_HISTORY_NODE && strcmp(name, "security.capability") == 0 && capability_at((uint64_t)ino) < 0) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_str(&a, name); arg_num(&a, (double)size); dispatch(req, OP_GETXATTR, &a);
}
static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_num(&a, (double)size); dispatch(req, OP_LISTXATTR, &a);
}
static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_str(&a, name); dispatch(req, OP_REMOVEXATTR, &a);
}
static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  args_t a = {.n = 0}; arg_num(&a, (double)ino); arg_int(&a, mask); dispatch(req, OP_ACCESS, &a);
}
static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  args_t a = {.n = 0}; arg_num(&a, (double)parent); arg_str(&a, name); arg_num(&a, mode); arg_int(&a, fi->flags);
  dispatch(req, OP_CREATE, &a);
}

static const struct fuse_lowlevel_ops ll_ops = {
  .lookup = ll_lookup, .forget = ll_forget, .getattr = ll_getattr, .setattr = ll_setattr,
  .readlink = ll_readlink, .mknod = ll_mknod, .mkdir = ll_mkdir, .unlink = ll_unlink,
  .rmdir = ll_rmdir, .symlink = ll_symlink, .rename = ll_rename, .link = ll_link, .open = ll_open,
  .read = ll_read, .write = ll_write, .flush = ll_flush, .release = ll_release, .fsync = ll_fsync,
  .opendir = ll_opendir, .readdir = ll_readdir, .releasedir = ll_releasedir, .fsyncdir = ll_fsyncdir,
  .statfs = ll_statfs, .setxattr = ll_setxattr, .getxattr = ll_getxattr, .listxattr = ll_listxattr,
  .removexattr = ll_removexattr, .access = ll_access, .create = ll_create,
};

/* ---- the channel: writes of up to 1 MiB ------------------------------------------------- */

/*
 * libfuse2 speaks FUSE protocol 7.19, which caps a request at 32 pages (128 KiB): a 1 GiB
 * `dd` becomes 8,192 write requests, each a round trip through this thread while the
 * writer waits. Kernels since 4.20 take a larger cap when the INIT reply carries the
 * FUSE_MAX_PAGES flag and `max_pages` (fields of protocol 7.28 that change nothing else in
 * the protocol). So the session runs on a channel of our own: it receives as the kernel
 * channel does, into a 1 MiB + 4 KiB buffer (libfuse then answers INIT with max_write 1
 * MiB), and when the kernel offered FUSE_MAX_PAGES it extends libfuse's INIT reply with
 * the flag and max_pages = 256. A kernel that did not offer it gets libfuse's reply as it
 * is (and then sends 128 KiB requests, which the big buffer receives as well).
 */
#define FUSE_MAX_PAGES_FLAG (1u << 22)
#define MAX_PAGES (MAX_WRITE_BYTES / 4096)

/* The kernel's FUSE ABI (linux/fuse.h), as far as this needs it. */
#define KERNEL_FUSE_INIT 26
#define KERNEL_FUSE_VERSION 7
struct in_header { uint32_t len, opcode; uint64_t unique, nodeid; uint32_t uid, gid, pid, padding; };
struct init_in { uint32_t major, minor, max_readahead, flags; };
struct out_header { uint32_t len; int32_t error; uint64_t unique; };

/* fuse_init_out up to max_pages (protocol 7.28); libfuse2 knows the first 24 bytes. */
struct init_out_728 {
  uint32_t major, minor, max_readahead, flags;
  uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran;
  uint16_t max_pages, map_alignment;
};

static int chan_receive(struct fuse_chan **chp, char *buf, size_t size) {
  struct fuse_chan *ch = *chp;
  struct fuse_session *se = fuse_chan_session(ch);
  for (;;) {
    ssize_t res = read(fuse_chan_fd(ch), buf, size);
    int err = errno;
    if (fuse_session_exited(se)) return 0;
    if (res < 0) {
      if (err == ENOENT) continue; /* the request was interrupted: read the next */
      if (err == ENODEV) {         /* unmounted */
        fuse_session_exit(se);
        return 0;
      }
      return -err; /* EAGAIN (nothing to read), EINTR, or a failure on_readable reports */
    }
    if ((size_t)res < sizeof(struct in_header)) return -EIO;
    return (int)res;
  }
}

static int chan_send(struct fuse_chan *ch, const struct iovec iov[], size_t count) {
  session_t *s = fuse_chan_data(ch);
  struct out_header header;
  struct init_out_728 init;
  struct iovec patched[2];
  if (s->init_unique != 0 && count == 2 && iov[0].iov_len == sizeof header && iov[1].iov_len <= sizeof init) {
    memcpy(&header, iov[0].iov_base, sizeof header);
    if (header.unique == s->init_unique && header.error == 0) {
      s->init_unique = 0;
      memset(&init, 0, sizeof init);
      memcpy(&init, iov[1].iov_base, iov[1].iov_len);
      init.flags |= FUSE_MAX_PAGES_FLAG;
      init.max_pages = MAX_PAGES;
      header.len = sizeof header + sizeof init;
      patched[0].iov_base = &header;
      patched[0].iov_len = sizeof header;
      patched[1].iov_base = &init;
      patched[1].iov_len = sizeof init;
      iov = patched;
    }
  }
  if (writev(fuse_chan_fd(ch), iov, (int)count) < 0) {
    int err = errno;
    /* ENOENT: the request was interrupted meanwhile; nobody waits for the answer. */
    if (err != ENOENT && !fuse_session_exited(fuse_chan_session(ch))) perror("cairn: writing to the FUSE device");
    return -err;
  }
  return 0;
}

static void chan_destroy(struct fuse_chan *ch) { (void)ch; /* the fd belongs to the kernel channel */ }

static struct fuse_chan_ops chan_ops = { .receive = chan_receive, .send = chan_send, .destroy = chan_destroy };

/* Before libfuse sees a request: remember INIT's id when the kernel offers FUSE_MAX_PAGES. */
static void note_init(session_t *s, const char *buf, size_t len) {
  struct in_header in;
  struct init_in init;
  if (len < sizeof in + sizeof init) return;
  memcpy(&in, buf, sizeof in);
  if (in.opcode != KERNEL_FUSE_INIT) return;
  memcpy(&init, buf + sizeof in, sizeof init);
  if (init.major == KERNEL_FUSE_VERSION && (init.flags & FUSE_MAX_PAGES_FLAG)) s->init_unique = in.unique;
}

/* ---- reading /dev/fuse on the event loop -------------------------------------------------- */

static void call_ended(session_t *s, int error) {
  napi_value fn, global, argv[1], result;
  napi_get_reference_value(s->env, s->ended, &fn);
  napi_get_global(s->env, &global);
  napi_create_int32(s->env, error, &argv[0]);
  if (napi_call_function(s->env, global, fn, 1, argv, &result) != napi_ok) {
    napi_value e;
    napi_get_and_clear_last_exception(s->env, &e);
  }
}

static void stop_polling(session_t *s) {
  if (!s->polling) return;
  s->polling = 0;
  uv_poll_stop(&s->poll);
}

/*
 * The fd is readable: take up to 64 requests (then let the loop run other work) and hand
 * each to JS. A callback scope around the batch runs promise reactions when it closes, as
 * for any callback Node makes.
 */
static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  session_t *s = handle->data;
  napi_env env = s->env;
  napi_handle_scope outer;
  napi_open_handle_scope(env, &outer);
  napi_value resource;
  napi_get_reference_value(env, s->resource, &resource);
  napi_callback_scope scope;
  napi_open_callback_scope(env, resource, s->async, &scope);
  int ended = status < 0 ? -status : -1;
  for (int i = 0; i < 64 && ended < 0; i++) {
    struct fuse_chan *ch = s->ch;
    int res = fuse_chan_recv(&ch, s->buf, s->bufsize);
    if (res == -EAGAIN || res == -EINTR) break;
    if (res <= 0 || fuse_session_exited(s->se)) { ended = res < 0 ? -res : 0; break; }
    napi_handle_scope inner;
    napi_open_handle_scope(env, &inner);
    note_init(s, s->buf, (size_t)res);
    fuse_session_process(s->se, s->buf, (size_t)res, ch);
    napi_close_handle_scope(env, inner);
  }
  if (ended >= 0) {
    /* Unmounted from outside (ENODEV) or the device failed: stop reading, tell JS. */
    stop_polling(s);
    call_ended(s, ended);
  }
  napi_close_callback_scope(env, scope);
  napi_close_handle_scope(env, outer);
}

/* ---- exported functions ------------------------------------------------------------------- */

static int get_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len;
  return napi_get_value_string_utf8(env, v, out, cap, &len) == napi_ok && len < cap - 1;
}

/* fuse_args from a JS array of strings: argv[0] is a program name, then "-o", "opts". */
static int make_args(napi_env env, napi_value list, struct fuse_args *args) {
  uint32_t n;
  if (napi_get_array_length(env, list, &n) != napi_ok) return 0;
  fuse_opt_add_arg(args, "cairn");
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    char text[4096];
    napi_get_element(env, list, i, &item);
    if (!get_string(env, item, text, sizeof text)) return 0;
    fuse_opt_add_arg(args, text);
  }
  return 1;
}

/* mount(mountpoint, mountArgs[], sessionArgs[], dispatch, ended): 0, or -errno. */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (current) {
    napi_create_int32(env, -EBUSY, &result);
    return result;
  }
  char mountpoint[4096];
  if (argc < 5 || !get_string(env, argv[0], mountpoint, sizeof mountpoint)) {
    napi_throw_type_error(env, NULL, "mount(mountpoint, mountArgs, sessionArgs, dispatch, ended)");
    return NULL;
  }
  struct fuse_args margs = FUSE_ARGS_INIT(0, NULL), sargs = FUSE_ARGS_INIT(0, NULL);
  if (!make_args(env, argv[1], &margs) || !make_args(env, argv[2], &sargs)) {
    fuse_opt_free_args(&margs);
    fuse_opt_free_args(&sargs);
    napi_throw_type_error(env, NULL, "mount options must be strings");
    return NULL;
  }
  session_t *s = calloc(1, sizeof *s);
  s->env = env;
  s->kernel_ch = fuse_mount(mountpoint, &margs); /* libfuse prints why it fails on stderr */
  fuse_opt_free_args(&margs);
  if (!s->kernel_ch) {
    fuse_opt_free_args(&sargs);
    free(s);
    napi_create_int32(env, -EIO, &result);
    return result;
  }
  s->se = fuse_lowlevel_new(&sargs, &ll_ops, sizeof ll_ops, s);
  fuse_opt_free_args(&sargs);
  if (!s->se) {
    fuse_unmount(mountpoint, s->kernel_ch);
    free(s);
    napi_create_int32(env, -EINVAL, &result);
    return result;
  }
  /* Our channel when it can be made (see "The channel"), else the kernel's as it is. */
  s->ch = fuse_chan_new(&chan_ops, fuse_chan_fd(s->kernel_ch), RECEIVE_BUFFER_BYTES, s);
  if (!s->ch) s->ch = s->kernel_ch;
  fuse_session_add_chan(s->se, s->ch);
  s->mountpoint = strdup(mountpoint);
  s->bufsize = fuse_chan_bufsize(s->ch);
  s->buf = malloc(s->bufsize);
  napi_value pool;
  if (napi_create_arraybuffer(env, (size_t)WRITE_BUFFERS * WRITE_BUFFER_SIZE, (void **)&s->write_memory, &pool) == napi_ok) {
    napi_create_reference(env, pool, 1, &s->write_pool);
    for (int i = WRITE_BUFFERS - 1; i >= 0; i--) s->write_free[s->write_free_count++] = i;
  }
  int fd = fuse_chan_fd(s->ch);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  napi_create_reference(env, argv[3], 1, &s->dispatch);
  napi_create_reference(env, argv[4], 1, &s->ended);
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &s->resource);
  napi_create_string_utf8(env, "cairn:fuse", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &s->async);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  s->polling = 1;
  current = s;
  napi_create_int32(env, 0, &result);
  return result;
}

/* unmount(): stops reading, detaches the mount (lazily, as fusermount -uz) and frees the session. */
static napi_value js_unmount(napi_env env, napi_callback_info info) {
  (void)info;
  session_t *s = current;
  if (!s || s->unmounted) return NULL;
  stop_polling(s);
  s->unmounted = 1;
  fuse_session_remove_chan(s->ch);
  if (s->ch != s->kernel_ch) fuse_chan_destroy(s->ch);
  fuse_unmount(s->mountpoint, s->kernel_ch);
  fuse_session_destroy(s->se);
  /* Requests JS still holds can no longer be answered: slot_release drops them. The
   * session struct stays (current->unmounted) so late replies find nothing to write to. */
  return NULL;
}

/* ---- replies -------------------------------------------------------------------------------- */

static fuse_req_t req_arg(napi_env env, napi_value v) {
  int32_t slot;
  if (napi_get_value_int32(env, v, &slot) != napi_ok) return NULL;
  return slot_release(slot);
}

static double num_arg(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

static void fill_stat(struct stat *st) {
  const double *f = stat_scratch;
  memset(st, 0, sizeof *st);
  st->st_ino = ((uint64_t)f[F_INO_HI] << 32) | (uint64_t)f[F_INO_LO];
  st->st_mode = (mode_t)f[F_MODE];
  st->st_nlink = (nlink_t)f[F_NLINK];
  st->st_uid = (uid_t)f[F_UID];
  st->st_gid = (gid_t)f[F_GID];
  st->st_rdev = (dev_t)f[F_RDEV];
  st->st_size = (off_t)f[F_SIZE];
  st->st_blocks = (blkcnt_t)f[F_BLOCKS];
  st->st_blksize = (blksize_t)f[F_BLKSIZE];
  st->st_atim.tv_sec = (time_t)f[F_ATIME];
  st->st_atim.tv_nsec = (long)f[F_ATIME_NS];
  st->st_mtim.tv_sec = (time_t)f[F_MTIME];
  st->st_mtim.tv_nsec = (long)f[F_MTIME_NS];
  st->st_ctim.tv_sec = (time_t)f[F_CTIME];
  st->st_ctim.tv_nsec = (long)f[F_CTIME_NS];
}

#define REPLY_ARGS(count)                                        \
  size_t argc = count;                                           \
  napi_value argv[count];                                        \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);          \
  fuse_req_t req = argc > 0 ? req_arg(env, argv[0]) : NULL;      \
  if (!req) return NULL;

/* replyErr(slot, errno): errno 0 is success with no data. */
static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  fuse_reply_err(req, (int)num_arg(env, argv[1]));
  return NULL;
}

static void entry_from(napi_env env, napi_value *argv, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->ino = (fuse_ino_t)num_arg(env, argv[0]);
  e->generation = 0;
  e->attr_timeout = num_arg(env, argv[1]);
  e->entry_timeout = num_arg(env, argv[2]);
  if (e->ino) fill_stat(&e->attr);
}

/* replyEntry(slot, nodeId, attrTimeout, entryTimeout), attributes in STAT; nodeId 0 = negative. */
static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  REPLY_ARGS(4);
  struct fuse_entry_param e;
  entry_from(env, argv + 1, &e);
  fuse_reply_entry(req, &e);
  return NULL;
}

/* replyCreate(slot, nodeId, attrTimeout, entryTimeout, fh, keepCache), attributes in STAT. */
static napi_value js_reply_create(napi_env env, napi_callback_info info) {
  REPLY_ARGS(6);
  struct fuse_entry_param e;
  entry_from(env, argv + 1, &e);
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = (uint64_t)num_arg(env, argv[4]);
  fi.keep_cache = num_arg(env, argv[5]) != 0;
  if (fuse_reply_create(req, &e, &fi) == -ENOENT) {
    /* The caller was interrupted before the answer arrived; the handle stays open in JS
     * until its release, which the kernel does not send now. Harmless: one handle leaks. */
  }
  return NULL;
}

/* replyAttr(slot, attrTimeout), attributes in STAT. */
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  struct stat st;
  fill_stat(&st);
  fuse_reply_attr(req, &st, num_arg(env, argv[1]));
  return NULL;
}

/* replyOpen(slot, fh, keepCache). */
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  REPLY_ARGS(3);
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = (uint64_t)num_arg(env, argv[1]);
  fi.keep_cache = num_arg(env, argv[2]) != 0;
  fuse_reply_open(req, &fi);
  return NULL;
}

/* replyWrite(slot, count). */
static napi_value js_reply_write(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  fuse_reply_write(req, (size_t)num_arg(env, argv[1]));
  return NULL;
}

/* replyBuffer(slot, bytes, length): read data, an xattr value or a name list. */
static napi_value js_reply_buffer(napi_env env, napi_callback_info info) {
  REPLY_ARGS(3);
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    fuse_reply_err(req, EIO);
    return NULL;
  }
  size_t want = (size_t)num_arg(env, argv[2]);
  fuse_reply_buf(req, data, want < len ? want : len);
  return NULL;
}

/* replyXattrSize(slot, size): the size a getxattr/listxattr of size 0 asks for. */
static napi_value js_reply_xattr_size(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  fuse_reply_xattr(req, (size_t)num_arg(env, argv[1]));
  return NULL;
}

/* replyReadlink(slot, target). */
static napi_value js_reply_readlink(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  char target[4097];
  if (!get_string(env, argv[1], target, sizeof target)) {
    fuse_reply_err(req, ENAMETOOLONG);
    return NULL;
  }
  fuse_reply_readlink(req, target);
  return NULL;
}

/* replyStatfs(slot, [bsize, frsize, blocks, bfree, bavail, files, ffree, favail, namemax]). */
static napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
  REPLY_ARGS(2);
  double f[9] = {0};
  for (uint32_t i = 0; i < 9; i++) {
    napi_value v;
    napi_get_element(env, argv[1], i, &v);
    f[i] = num_arg(env, v);
  }
  struct statvfs st;
  memset(&st, 0, sizeof st);
  st.f_bsize = (unsigned long)f[0];
  st.f_frsize = (unsigned long)f[1];
  st.f_blocks = (fsblkcnt_t)f[2];
  st.f_bfree = (fsblkcnt_t)f[3];
  st.f_bavail = (fsblkcnt_t)f[4];
  st.f_files = (fsfilcnt_t)f[5];
  st.f_ffree = (fsfilcnt_t)f[6];
  st.f_favail = (fsfilcnt_t)f[7];
  st.f_namemax = (unsigned long)f[8];
  fuse_reply_statfs(req, &st);
  return NULL;
}

/*
 * replyDirectory(slot, size, first, names[], inos Float64Array (hi, lo per entry), modes
 * Uint32Array): entries from index `first` while they fit in `size` bytes; each entry's
 * offset is its index + 1, which the kernel passes back to continue.
 */
static napi_value js_reply_directory(napi_env env, napi_callback_info info) {
  REPLY_ARGS(6);
  size_t size = (size_t)num_arg(env, argv[1]);
  uint32_t first = (uint32_t)num_arg(env, argv[2]), count;
  napi_get_array_length(env, argv[3], &count);
  double *inos;
  uint32_t *modes;
  size_t n;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  napi_get_typedarray_info(env, argv[4], &type, &n, (void **)&inos, &ab, &off);
  napi_get_typedarray_info(env, argv[5], &type, &n, (void **)&modes, &ab, &off);
  char *buf = malloc(size);
  size_t used = 0;
  char name[1024];
  for (uint32_t i = first; i < count; i++) {
    napi_value item;
    napi_get_element(env, argv[3], i, &item);
    if (!get_string(env, item, name, sizeof name)) continue;
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = ((uint64_t)inos[2 * i] << 32) | (uint64_t)inos[2 * i + 1];
    st.st_mode = modes[i];
    size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
  return NULL;
}

/* releaseWriteBuffer(index): JS is done with the bytes of the write that was lent `index`. */
static napi_value js_release_write_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t index;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_t *s = current;
  if (!s || argc < 1 || napi_get_value_int32(env, argv[0], &index) != napi_ok) return NULL;
  if (index < 0 || index >= WRITE_BUFFERS || !s->write_taken[index]) return NULL; /* not lent: ignore */
  s->write_taken[index] = 0;
  s->write_free[s->write_free_count++] = index;
  return NULL;
}

/*
 * writeBufferCounts() -> { lent, copies }: write buffers lent and not given back now, and the
 * WRITE requests that got a copy of their own since the mount (`cairn status` shows both; a
 * forgotten release would show as buffers that stay lent and every write becoming a copy).
 */
static napi_value js_write_buffer_counts(napi_env env, napi_callback_info info) {
  (void)info;
  session_t *s = current;
  napi_value result, lent, copies;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_int32(env, s ? WRITE_BUFFERS - s->write_free_count : 0, &lent));
  CHECK(napi_create_double(env, s ? s->write_copies : 0, &copies));
  CHECK(napi_set_named_property(env, result, "lent", lent));
  CHECK(napi_set_named_property(env, result, "copies", copies));
  return result;
}

/* ---- file hints -------------------------------------------------------------------------- */

/*
 * willNeed(path, length): asks the kernel to start reading the first `length` bytes of a
 * regular file into the page cache, without waiting for them (posix_fadvise WILLNEED). A
 * backup calls it for the files it will read next, so cold reads overlap the sealing of
 * earlier files. Only a hint: every failure is ignored. O_NONBLOCK, so a file swapped for
 * a fifo meanwhile cannot hang the caller; O_NOFOLLOW, so a symlink swapped in is not followed.
 */
static napi_value js_will_need(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[4096];
  size_t path_length = 0;
  double length = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &path_length) != napi_ok) return NULL;
  if (path_length >= sizeof(path) - 1) return NULL; /* possibly cut: not our file */
  CHECK(napi_get_value_double(env, argv[1], &length));
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) posix_fadvise(fd, 0, (off_t)length, POSIX_FADV_WILLNEED);
  close(fd);
  return NULL;
}

/* ---- module ------------------------------------------------------------------------------- */

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value stat_buffer, stat_array, caller_buffer, caller_array;
  CHECK(napi_create_arraybuffer(env, F_FIELDS * sizeof(double), (void **)&stat_scratch, &stat_buffer));
  CHECK(napi_create_typedarray(env, napi_float64_array, F_FIELDS, stat_buffer, 0, &stat_array));
  CHECK(napi_create_arraybuffer(env, 4 * sizeof(uint32_t), (void **)&caller_scratch, &caller_buffer));
  CHECK(napi_create_typedarray(env, napi_uint32_array, 4, caller_buffer, 0, &caller_array));
  CHECK(napi_set_named_property(env, exports, "STAT", stat_array));
  CHECK(napi_set_named_property(env, exports, "CALLER", caller_array));
  export_fn(env, exports, "mount", js_mount);
  export_fn(env, exports, "unmount", js_unmount);
  export_fn(env, exports, "replyErr", js_reply_err);
  export_fn(env, exports, "replyEntry", js_reply_entry);
  export_fn(env, exports, "replyCreate", js_reply_create);
  export_fn(env, exports, "replyAttr", js_reply_attr);
  export_fn(env, exports, "replyOpen", js_reply_open);
  export_fn(env, exports, "replyWrite", js_reply_write);
  export_fn(env, exports, "replyBuffer", js_reply_buffer);
  export_fn(env, exports, "replyXattrSize", js_reply_xattr_size);
  export_fn(env, exports, "replyReadlink", js_reply_readlink);
  export_fn(env, exports, "replyStatfs", js_reply_statfs);
  export_fn(env, exports, "replyDirectory", js_reply_directory);
  export_fn(env, exports, "releaseWriteBuffer", js_release_write_buffer);
  export_fn(env, exports, "writeBufferCounts", js_write_buffer_counts);
  export_fn(env, exports, "willNeed", js_will_need);
  export_fn(env, exports, "markCapability", js_mark_capability);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
