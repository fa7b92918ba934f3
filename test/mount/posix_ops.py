"""POSIX behaviour checked through a real mount with real system calls.

usage: python3 posix_ops.py MOUNTED_DIR    prints "posix ok: N checks" or fails with a trace.
"""
import errno, os, stat, sys

root = sys.argv[1]
checks = 0

def p(*parts):
    return os.path.join(root, *parts)

def check(condition, what):
    global checks
    if not condition:
        raise AssertionError(what)
    checks += 1

def fails_with(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except OSError as e:
        check(e.errno == code, f"{fn.__name__}{args}: errno {errno.errorcode.get(e.errno)} instead of {errno.errorcode[code]}")
        return
    raise AssertionError(f"{fn.__name__}{args} succeeded; expected {errno.errorcode[code]}")

def read(path):
    with open(path, "rb") as f:
        return f.read()

os.mkdir(p("t"))

# open flags
with open(p("t", "f"), "wb") as f:
    f.write(b"0123456789")
fd = os.open(p("t", "f"), os.O_WRONLY | os.O_APPEND)
os.write(fd, b"AB")
os.close(fd)
check(read(p("t", "f")) == b"0123456789AB", "O_APPEND appends")
fd = os.open(p("t", "f"), os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"xy")
os.close(fd)
check(read(p("t", "f")) == b"xy", "O_TRUNC empties")
fails_with(errno.EEXIST, os.open, p("t", "f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
fd = os.open(p("t", "new"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
os.close(fd)
check(stat.S_IMODE(os.stat(p("t", "new")).st_mode) == 0o640, "create mode")

# truncate and ftruncate, sparse growth, pwrite past the end
os.truncate(p("t", "f"), 5)
check(read(p("t", "f")) == b"xy\0\0\0", "truncate grows with zeros")
fd = os.open(p("t", "f"), os.O_RDWR)
os.ftruncate(fd, 1)
os.pwrite(fd, b"Z", 1_000_000)
os.fsync(fd)
os.close(fd)
data = read(p("t", "f"))
check(len(data) == 1_000_001 and data[0:1] == b"x" and data[1:1_000_000] == bytes(999_999) and data[-1:] == b"Z", "ftruncate + pwrite hole")

# rename: over an existing file, directories, into a subdirectory, errors
with open(p("t", "a"), "w") as f:
    f.write("A")
with open(p("t", "b"), "w") as f:
    f.write("B")
os.rename(p("t", "a"), p("t", "b"))
check(read(p("t", "b")) == b"A" and not os.path.exists(p("t", "a")), "rename over existing file")
os.makedirs(p("t", "d1", "inner"))
with open(p("t", "d1", "inner", "x"), "w") as f:
    f.write("deep")
os.rename(p("t", "d1"), p("t", "d2"))
check(read(p("t", "d2", "inner", "x")) == b"deep", "rename a directory tree")
fails_with(errno.EINVAL, os.rename, p("t", "d2"), p("t", "d2", "inner", "below"))
os.mkdir(p("t", "empty"))
os.rename(p("t", "d2"), p("t", "empty"))
check(os.path.isdir(p("t", "empty", "inner")), "rename directory over an empty one")
os.mkdir(p("t", "full"))
with open(p("t", "full", "x"), "w"):
    pass
fails_with(errno.ENOTEMPTY, os.rename, p("t", "empty"), p("t", "full"))
fails_with(errno.ENOTEMPTY, os.rmdir, p("t", "full"))
fails_with(errno.ENOTDIR, os.rmdir, p("t", "full", "x"))
fails_with(errno.EISDIR, os.unlink, p("t", "full"))
fails_with(errno.ENOENT, os.stat, p("t", "missing"))

# unlink of an open file: still readable and writable through the handle
with open(p("t", "open"), "w") as f:
    f.write("kept through the handle")
fd = os.open(p("t", "open"), os.O_RDWR)
os.unlink(p("t", "open"))
check(not os.path.exists(p("t", "open")), "unlinked name is gone")
check(os.pread(fd, 100, 0) == b"kept through the handle", "open handle reads after unlink")
check(os.fstat(fd).st_size == 23, "fstat after unlink")
check(not any(n.startswith(".fuse_hidden") for n in os.listdir(p("t"))), "hidden names are not listed")
os.close(fd)

# links, symlinks, special files
os.link(p("t", "b"), p("t", "b2"))
check(os.stat(p("t", "b")).st_nlink == 2 and os.stat(p("t", "b")).st_ino == os.stat(p("t", "b2")).st_ino, "hard link shares inode, nlink 2")
os.unlink(p("t", "b"))
check(os.stat(p("t", "b2")).st_nlink == 1 and read(p("t", "b2")) == b"A", "nlink drops, data stays")
fails_with(errno.EPERM, os.link, p("t", "full"), p("t", "dirlink"))
os.symlink("../t/b2", p("t", "s"))
check(os.readlink(p("t", "s")) == "../t/b2" and read(p("t", "s")) == b"A", "symlink")
fails_with(errno.EINVAL, os.readlink, p("t", "b2"))
os.mkfifo(p("t", "fifo"), 0o600)
check(stat.S_ISFIFO(os.lstat(p("t", "fifo")).st_mode), "fifo")
os.mknod(p("t", "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
st = os.lstat(p("t", "null"))
check(stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3), "character device")

# metadata: chmod, chown, nanosecond times
os.chmod(p("t", "b2"), 0o4751)
check(stat.S_IMODE(os.stat(p("t", "b2")).st_mode) == 0o4751, "chmod with setuid")
os.chown(p("t", "b2"), 4321, 8765)
st = os.stat(p("t", "b2"))
check((st.st_uid, st.st_gid) == (4321, 8765), "chown")
os.utime(p("t", "b2"), ns=(1_234_567_890_123_456_789, 1_300_000_000_987_654_321))
st = os.stat(p("t", "b2"))
check(st.st_mtime_ns == 1_300_000_000_987_654_321 and st.st_atime_ns == 1_234_567_890_123_456_789, "utimens with nanoseconds")
# one time alone (UTIME_OMIT for the other), as touch -m / touch -a and tar -x do
import subprocess
subprocess.run(["touch", "-m", "-d", "@1500000000.5", p("t", "b2")], check=True)
st = os.stat(p("t", "b2"))
check(st.st_mtime_ns == 1_500_000_000_500_000_000 and st.st_atime_ns == 1_234_567_890_123_456_789, "mtime alone (touch -m)")
subprocess.run(["touch", "-a", "-d", "@1400000000", p("t", "b2")], check=True)
st = os.stat(p("t", "b2"))
check(st.st_atime_ns == 1_400_000_000_000_000_000 and st.st_mtime_ns == 1_500_000_000_500_000_000, "atime alone (touch -a)")
os.utime(p("t", "s"), ns=(1_000_000_000_000_000_001, 1_000_000_000_000_000_002), follow_symlinks=False)
check(os.lstat(p("t", "s")).st_mtime_ns == 1_000_000_000_000_000_002, "utimens on a symlink itself")

# xattrs
os.setxattr(p("t", "b2"), "user.k", b"v" * 100)
check(os.getxattr(p("t", "b2"), "user.k") == b"v" * 100, "getxattr")
check("user.k" in os.listxattr(p("t", "b2")), "listxattr")
fails_with(errno.EEXIST, os.setxattr, p("t", "b2"), "user.k", b"x", os.XATTR_CREATE)
fails_with(errno.ENODATA, os.setxattr, p("t", "b2"), "user.none", b"x", os.XATTR_REPLACE)
os.removexattr(p("t", "b2"), "user.k")
fails_with(errno.ENODATA, os.getxattr, p("t", "b2"), "user.k")

# names
long_name = "n" * 255
with open(p("t", long_name), "w") as f:
    f.write("255 bytes is the limit")
check(read(p("t", long_name)) == b"255 bytes is the limit", "255-byte name")
fails_with(errno.ENAMETOOLONG, open, p("t", "n" * 256), "w")
for name in ["space in name", "ünïcode ✓", "new\nline", "tab\tname"]:
    with open(p("t", name), "w") as f:
        f.write(name)
    check(read(p("t", name)) == name.encode(), f"odd name {name!r}")
check(sorted(os.listdir(p("t", "full"))) == ["x"], "readdir")

# statfs
sv = os.statvfs(root)
check(sv.f_bsize > 0 and sv.f_bavail > 0 and sv.f_namemax == 255, "statvfs")

print(f"posix ok: {checks} checks")
