"""Runs steps of the POSIX suite (test/posix/steps.ts) as real system calls, as whoever runs it.

usage: python3 posix_steps.py FOLDER STEPS_JSON (or python3 -c "$(cat posix_steps.py)" FOLDER STEPS_JSON)
prints a JSON list of answers, one per step:
{"errno": "EACCES"} or {"value": ...}. The umask is 0, so modes are exactly those asked for.
"""
import errno, json, os, stat, sys

root = sys.argv[1]
steps = json.loads(sys.argv[2])
os.umask(0)
handles = {}


def p(path):
    return os.path.join(root, path)


def kind(mode):
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    return "other"


def run(s):
    op = s["op"]
    if op == "mkdir":
        os.mkdir(p(s["path"]), s.get("mode", 0o755))
    elif op == "create":
        fd = os.open(p(s["path"]), os.O_CREAT | os.O_EXCL | os.O_WRONLY, s.get("mode", 0o644))
        os.write(fd, s.get("data", "").encode())
        os.close(fd)
    elif op == "write":
        flags = os.O_WRONLY | (os.O_TRUNC if s.get("trunc") else 0) | (os.O_APPEND if s.get("append") else 0)
        fd = os.open(p(s["path"]), flags)
        try:
            if "offset" in s:
                os.pwrite(fd, s["data"].encode(), s["offset"])
            else:
                os.write(fd, s["data"].encode())
        finally:
            os.close(fd)
    elif op == "read":
        with open(p(s["path"]), "rb") as f:
            return {"data": f.read().decode()}
    elif op == "stat":
        st = os.lstat(p(s["path"]))
        return {"type": kind(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                "nlink": st.st_nlink, "size": st.st_size, "ino": str(st.st_ino),
                "atimeNs": str(st.st_atime_ns), "mtimeNs": str(st.st_mtime_ns)}
    elif op == "chmod":
        os.chmod(p(s["path"]), s["mode"])
    elif op == "chown":
        os.chown(p(s["path"]), s["uid"], s["gid"], follow_symlinks=False)
    elif op == "utime":
        if "mtimeNs" in s:
            os.utime(p(s["path"]), ns=(int(s["atimeNs"]), int(s["mtimeNs"])), follow_symlinks=False)
        else:
            os.utime(p(s["path"]))
    elif op == "rename":
        os.rename(p(s["from"]), p(s["to"]))
    elif op == "unlink":
        os.unlink(p(s["path"]))
    elif op == "rmdir":
        os.rmdir(p(s["path"]))
    elif op == "link":
        os.link(p(s["from"]), p(s["to"]))
    elif op == "symlink":
        os.symlink(s["target"], p(s["path"]))
    elif op == "readlink":
        return {"target": os.readlink(p(s["path"]))}
    elif op == "truncate":
        os.truncate(p(s["path"]), s["size"])
    elif op == "access":
        if not os.access(p(s["path"]), s["mode"]):
            raise OSError(errno.EACCES, "access")
    elif op == "setxattr":
        flags = {"create": os.XATTR_CREATE, "replace": os.XATTR_REPLACE}.get(s.get("flags"), 0)
        os.setxattr(p(s["path"]), s["name"], s["value"].encode(), flags)
    elif op == "getxattr":
        return {"value": os.getxattr(p(s["path"]), s["name"]).decode()}
    elif op == "mkfifo":
        os.mkfifo(p(s["path"]), s.get("mode", 0o644))
    elif op == "readdir":
        return {"names": sorted(os.listdir(p(s["path"])))}
    elif op == "open":
        flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[s["flags"]]
        handles[s["handle"]] = os.open(p(s["path"]), flags)
    elif op == "pread":
        return {"data": os.pread(handles[s["handle"]], s["size"], s["offset"]).decode()}
    elif op == "pwrite":
        os.pwrite(handles[s["handle"]], s["data"].encode(), s["offset"])
    elif op == "close":
        os.close(handles.pop(s["handle"]))
    else:
        raise ValueError(f"unknown step {op}")
    return None


answers = []
for step in steps:
    try:
        answers.append({"value": run(step)})
    except OSError as e:
        answers.append({"errno": errno.errorcode.get(e.errno, str(e.errno))})
print(json.dumps(answers))
