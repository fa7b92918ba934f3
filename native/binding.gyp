{
  "targets": [{
    "target_name": "cairn_fuse",
    "sources": ["lowlevel.c"],
    "include_dirs": ["<!(node -e \"require('fuse-shared-library/include')\")"],
    "libraries": ["<!(node -e \"require('fuse-shared-library/lib')\")"],
    "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
  }, {
    "target_name": "cairn_chunker",
    "sources": ["chunker.c"],
    "cflags": ["-O3", "-Wall", "-Wextra"]
  }, {
    "target_name": "cairn_zstd",
    "sources": ["zstd.c"],
    "libraries": ["-lzstd", "-lm"],
    "cflags": ["-O2", "-Wall", "-Wextra"]
  }]
}
