"""The seccomp filter every bwrap job runs under, built with libseccomp.

The filter is compiled once by libseccomp (through the ``pyseccomp`` ctypes
binding to Debian's ``libseccomp2``) into a classic BPF program that bwrap loads
with ``--seccomp FD`` right before it executes the job, after its own namespace
setup. Everything is allowed except what a training job never needs and an
attacker wants: new namespaces, mounts, the kernel keyring, eBPF, perf events,
userfaultfd, io_uring and tracing or reading other processes. Denied calls fail with
``EPERM`` (``clone3`` with ``ENOSYS``, so the C library falls back to ``clone``,
whose flags the filter can read). Syscalls of a foreign architecture (32-bit
x86 from a 64-bit job) kill the job: they would bypass the rules.
"""

from __future__ import annotations

import errno
import functools
import os

DENIED_SYSCALLS = (
    # New namespaces, or joining another process's.
    "unshare",
    "setns",
    # Mounting, in every form the kernel offers.
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    # The kernel keyring.
    "keyctl",
    "add_key",
    "request_key",
    # eBPF, perf events and userfaultfd: the usual kernel exploit surface.
    "bpf",
    "perf_event_open",
    "userfaultfd",
    # io_uring: a second way into most of the kernel, past this filter (its
    # operations are not system calls) and a frequent source of exploits.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    # Tracing or reading other processes.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    # Nothing a job should touch even if it had the capability.
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
)

# Every CLONE_NEW* flag; clone() with any of them set is refused.
CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}


def filter_rules():  # -> pyseccomp.SyscallFilter (imported lazily)
    """Return the libseccomp filter: allow all but the denied calls."""
    import pyseccomp as seccomp

    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    deny = seccomp.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            rules.add_rule(deny, name)
        except (OSError, ValueError, RuntimeError):
            # A syscall this kernel or architecture does not know cannot be called.
            continue
    # clone's flags are its first argument on every architecture Dojo runs on.
    for flag in CLONE_NAMESPACE_FLAGS.values():
        rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory the filter cannot read: make it look absent.
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    return rules


@functools.cache
def filter_program() -> bytes:
    """Return the compiled BPF program (cached: it never changes in a process)."""
    fd = os.memfd_create("dojo-seccomp")
    with os.fdopen(fd, "w+b") as program:
        filter_rules().export_bpf(program)
        program.flush()
        program.seek(0)
        return program.read()


def filter_fd() -> int:
    """Return a fresh, inheritable fd positioned at the start of the BPF program.

    bwrap reads it to the end; the caller closes its copy once the job started.
    """
    fd = os.memfd_create("dojo-seccomp", 0)
    try:
        os.write(fd, filter_program())
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
