"""Run inside a sandbox: try each call the seccomp filter must refuse.

Arguments are chosen so that, without the filter, most calls give an answer
other than EPERM (success, ENOENT, EFAULT, ENOSPC...): EPERM then proves the
filter refused them. Prints one JSON object: call -> errno name or "allowed".
"""

import ctypes
import errno
import json
import os
import signal
import sys
import time

NR = json.loads(sys.argv[1])  # syscall numbers, resolved on the host by libseccomp
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
UFFD_USER_MODE_ONLY = 1
PTRACE_ATTACH = 16
KEYCTL_GET_KEYRING_ID = 0
KEY_SPEC_SESSION_KEYRING = -3


def call(name, *args):
    ctypes.set_errno(0)
    argv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = libc.syscall(ctypes.c_long(NR[name]), *argv)
    if result == 0 and name == "clone":
        os._exit(0)  # a child was made: the filter let it through
    if result >= 0:
        return "allowed"
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
results = {
    "unshare(0)": call("unshare", 0),
    "unshare(CLONE_NEWUSER)": call("unshare", CLONE_NEWUSER),
    "unshare(CLONE_NEWNET)": call("unshare", CLONE_NEWNET),
    "setns": call("setns", -1, 0),
    "clone(CLONE_NEWUSER)": call("clone", CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0),
    "clone(CLONE_NEWNET)": call("clone", CLONE_NEWNET | signal.SIGCHLD, 0, 0, 0, 0),
    "clone3": call("clone3", 0, 0),
    "mount": call(
        "mount", b"none", b"/nonexistent-dojo", b"tmpfs", 0, ctypes.c_void_p(0)
    ),
    "keyctl": call("keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0),
    "add_key": call("add_key", b"user", b"dojo", b"x", 1, KEY_SPEC_SESSION_KEYRING),
    "bpf": call("bpf", 0, 0, 0),
    "perf_event_open": call("perf_event_open", 0, 0, -1, -1, 0),
    "userfaultfd": call("userfaultfd", UFFD_USER_MODE_ONLY),
    "ptrace(ATTACH child)": call("ptrace", PTRACE_ATTACH, child, 0, 0),
    # NULL params: EFAULT where io_uring is allowed, EPERM where filtered.
    "io_uring_setup": call("io_uring_setup", 1, ctypes.c_void_p(0)),
    "io_uring_enter": call("io_uring_enter", -1, 0, 0, 0, ctypes.c_void_p(0), 0),
    "io_uring_register": call("io_uring_register", -1, 0, ctypes.c_void_p(0), 0),
}
os.kill(child, signal.SIGKILL)
with open("/proc/self/status") as status:
    results["Seccomp"] = next(
        line.split()[1] for line in status if line.startswith("Seccomp:")
    )
print("PROBE " + json.dumps(results))
