"""shmring: lock-free rings in System V shared memory, from Python.

A ctypes binding of libshmring.so.2 (the C library; see docs/python.md of the repository).
The library is found through $SHMRING_LIB (a path), else the loader's search (libshmring.so.2).

    import shmring
    shmring.create_spsc("orders", capacity=1 << 20)
    with shmring.Spsc("orders", shmring.PRODUCER) as p:
        p.push(b"order 1")                 # copies; blocks while the ring is full
    with shmring.Spsc("orders", shmring.CONSUMER) as c:
        with c.peek() as rec:              # zero copy: rec.data is a read-only memoryview
            handle(rec.data)               # valid until the with block ends (release)
        for data in c:                     # pop() until end of stream
            ...

Errors are ShmringError (an OSError: .errno, .strerror from shmring_strerror); the end of the
stream is EndOfStream (a ShmringError with errno EPIPE). A timeout returns None (pop, peek) or
False (push). Timeouts are seconds; None waits without limit, 0 does not wait.
One handle is used by one thread at a time, as in C.
"""
import ctypes
import ctypes.util
import errno as _errno
import os

__all__ = [
    "PRODUCER", "CONSUMER", "FOREVER", "ShmringError", "EndOfStream", "strerror", "err_name",
    "create_spsc", "create_mpmc", "create_bcast", "unlink", "name_key", "Spsc", "Mpmc", "Bcast",
    "Record", "Control", "Event", "version",
]

_F_LOSSY = 0x8  # SHMRING_F_LOSSY
_F_ALIGN64 = 0x10  # SHMRING_F_ALIGN64
_BCAST_OLDEST = 0x1  # SHMRING_BCAST_OLDEST

PRODUCER = 1
CONSUMER = 2
FOREVER = -1

EV_ATTACH, EV_DETACH, EV_EOS, EV_PEER_DIED, EV_REMOVED, EV_APP = 1, 2, 3, 4, 5, 6
EV_ALL = 0x3F


def _load():
    path = os.environ.get("SHMRING_LIB") or ctypes.util.find_library("shmring") or "libshmring.so.2"
    try:
        return ctypes.CDLL(path, use_errno=False)
    except OSError as e:
        raise ImportError(
            "shmring: cannot load the C library (%s): install it (tools/install) or set SHMRING_LIB" % e
        ) from e


_lib = _load()
_vp, _sz, _i64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64


class _Config(ctypes.Structure):
    _fields_ = [
        ("capacity", ctypes.c_uint64),
        ("mode", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("slot_size", ctypes.c_uint32),
        ("reserved0", ctypes.c_uint32),
        ("start_position", ctypes.c_uint64),
    ]


class Event(ctypes.Structure):
    """A control event (struct shmring_event): type, role, pid, code, time_ns, len, to_pid, data."""
    _fields_ = [
        ("type", ctypes.c_uint32),
        ("role", ctypes.c_uint32),
        ("pid", ctypes.c_int32),
        ("code", ctypes.c_uint32),
        ("time_ns", ctypes.c_int64),
        ("len", ctypes.c_uint32),
        ("to_pid", ctypes.c_int32),
        ("_data", ctypes.c_uint8 * 240),
    ]

    @property
    def name(self):
        return _lib.shmring_event_name(self.type).decode()

    @property
    def data(self):
        return bytes(self._data[: min(self.len, 240)])

    def __repr__(self):
        return "Event(%s, role=%d, pid=%d, code=%d, data=%r)" % (self.name, self.role, self.pid, self.code, self.data)


def _sig(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_sig("shmring_strerror", ctypes.c_char_p, ctypes.c_int)
_sig("shmring_err_name", ctypes.c_char_p, ctypes.c_int)
_sig("shmring_event_name", ctypes.c_char_p, ctypes.c_uint32)
_sig("shmring_config_init", None, ctypes.POINTER(_Config))
_sig("shmring_unlink", ctypes.c_int, ctypes.c_char_p)
_sig("shmring_name_key", ctypes.c_int64, ctypes.c_char_p)
_sig("shmring_attached", ctypes.c_int, ctypes.c_char_p)
_sig("shmring_spsc_create", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_Config))
_sig("shmring_spsc_open", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_vp))
_sig("shmring_spsc_close", ctypes.c_int, _vp)
_sig("shmring_spsc_peer_count", ctypes.c_int, _vp)
_sig("shmring_spsc_set_spin", None, _vp, ctypes.c_uint32)
_sig("shmring_ffi_spsc_push_wait", ctypes.c_int, _vp, ctypes.c_char_p, _sz, _i64)
_sig("shmring_ffi_spsc_pop_wait", ctypes.c_ssize_t, _vp, _vp, _sz, _i64)
_sig("shmring_ffi_spsc_reserve_wait", ctypes.c_int, _vp, _sz, ctypes.POINTER(_vp), _i64)
_sig("shmring_ffi_spsc_commit", ctypes.c_uint, _vp)
_sig("shmring_ffi_spsc_peek_wait", ctypes.c_int, _vp, ctypes.POINTER(_vp), ctypes.POINTER(_sz), _i64)
_sig("shmring_ffi_spsc_release", ctypes.c_uint, _vp)
_sig("shmring_ffi_spsc_max_record", ctypes.c_uint64, _vp)
_sig("shmring_mpmc_create", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_Config))
_sig("shmring_mpmc_open", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_vp))
_sig("shmring_mpmc_close", ctypes.c_int, _vp)
_sig("shmring_mpmc_peer_count", ctypes.c_int, _vp)
_sig("shmring_ffi_mpmc_push_wait", ctypes.c_int, _vp, ctypes.c_char_p, _sz, _i64)
_sig("shmring_ffi_mpmc_pop_wait", ctypes.c_ssize_t, _vp, _vp, _sz, _i64)
_sig("shmring_ffi_mpmc_slot_size", ctypes.c_uint32, _vp)
_sig("shmring_bcast_create", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_Config))
_sig("shmring_bcast_open", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32, ctypes.POINTER(_vp))
_sig("shmring_bcast_close", ctypes.c_int, _vp)
_sig("shmring_bcast_peer_count", ctypes.c_int, _vp)
_sig("shmring_bcast_consumers", ctypes.c_int, _vp)
_sig("shmring_ffi_bcast_push_wait", ctypes.c_int, _vp, ctypes.c_char_p, _sz, _i64)
_sig("shmring_ffi_bcast_pop_wait", ctypes.c_ssize_t, _vp, _vp, _sz, _i64)
_sig("shmring_ffi_bcast_peek_wait", ctypes.c_int, _vp, ctypes.POINTER(_vp), ctypes.POINTER(_sz), _i64)
_sig("shmring_ffi_bcast_validate", ctypes.c_int, _vp)
_sig("shmring_ffi_bcast_release", ctypes.c_uint, _vp)
_sig("shmring_ffi_bcast_slot_size", ctypes.c_uint32, _vp)
_sig("shmring_ffi_bcast_lost", ctypes.c_uint64, _vp)
_sig("shmring_ffi_bcast_lossy", ctypes.c_int, _vp)
_sig("shmring_control_open", ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32, ctypes.POINTER(_vp))
_sig("shmring_control_recv", ctypes.c_int, _vp, ctypes.POINTER(Event), _i64)
_sig("shmring_control_send", ctypes.c_int, _vp, ctypes.c_int32, ctypes.c_uint32, ctypes.c_char_p, _sz)
_sig("shmring_control_close", ctypes.c_int, _vp)


def strerror(code):
    """shmring's message for an error code (negative or positive errno)."""
    return _lib.shmring_strerror(code).decode()


def err_name(code):
    """The symbolic name of an error code ("EAGAIN", ...)."""
    return _lib.shmring_err_name(code).decode()


class ShmringError(OSError):
    """A shmring call failed: .errno is the (positive) errno, .strerror shmring's message."""

    def __init__(self, code, what=""):
        code = abs(code)
        msg = strerror(code)
        super().__init__(code, "%s: %s" % (what, msg) if what else msg)


class EndOfStream(ShmringError):
    """-EPIPE: the other side closed or died (for a consumer: and every record was read)."""


def _check(rc, what):
    if rc < 0:
        raise (EndOfStream if rc == -_errno.EPIPE else ShmringError)(rc, what)
    return rc


def _name(name):
    if isinstance(name, str):
        name = name.encode()
    if not isinstance(name, bytes):
        raise TypeError("a ring name is str or bytes")
    return name


def _ns(timeout):
    """Seconds (None: without limit) -> the C timeout in ns."""
    if timeout is None:
        return FOREVER
    if timeout < 0:
        raise ValueError("timeout must be >= 0 seconds, or None")
    return int(timeout * 1e9)


def _config(capacity, mode, slot_size=None, flags=0):
    cfg = _Config()
    _lib.shmring_config_init(ctypes.byref(cfg))
    cfg.capacity = capacity
    cfg.flags = flags
    if mode is not None:
        cfg.mode = mode
    if slot_size is not None:
        cfg.slot_size = slot_size
    return cfg


def version():
    """The version of this binding (the C library's SHMRING_VERSION_STRING it was made for)."""
    return "1.0.0"


def create_spsc(name, capacity=0, mode=None, huge_pages=False, align=8):
    """Creates an SPSC ring (capacity bytes, a power of two; 0: 1 MiB). align=64 starts every
    record on a 64-byte cache line of its own (SHMRING_F_ALIGN64). Raises ShmringError."""
    if align not in (8, 64):
        raise ValueError("align must be 8 or 64, not %r" % (align,))
    cfg = _config(capacity, mode, flags=(1 if huge_pages else 0) | (_F_ALIGN64 if align == 64 else 0))
    _check(_lib.shmring_spsc_create(_name(name), ctypes.byref(cfg)), "create %r" % name)


def create_mpmc(name, slots=0, slot_size=64, mode=None, huge_pages=False):
    """Creates an MPMC ring of `slots` slots (a power of two; 0: 4096) of slot_size bytes."""
    cfg = _config(slots, mode, slot_size, flags=1 if huge_pages else 0)
    _check(_lib.shmring_mpmc_create(_name(name), ctypes.byref(cfg)), "create %r" % name)


def create_bcast(name, slots=0, slot_size=64, lossy=False, mode=None, huge_pages=False):
    """Creates a broadcast ring of `slots` slots (a power of two; 0: 4096) of slot_size bytes: one
    producer, every consumer sees every record. lossy=False (BLOCK): the producer waits for the
    slowest consumer; lossy=True: it never waits, and a consumer lapped by it loses records
    (counted in Bcast.lost)."""
    cfg = _config(slots, mode, slot_size, flags=(1 if huge_pages else 0) | (_F_LOSSY if lossy else 0))
    _check(_lib.shmring_bcast_create(_name(name), ctypes.byref(cfg)), "create %r" % name)


def unlink(name):
    """Removes a ring of either kind (attached processes keep their mapping)."""
    _check(_lib.shmring_unlink(_name(name)), "unlink %r" % name)


def name_key(name):
    """The System V key a name maps to (what ipcs shows)."""
    return _check(_lib.shmring_name_key(_name(name)), "name_key %r" % name)


def _segment_view(buf, n):
    """A read-only memoryview of the n.value bytes at buf in the segment (zero copy)."""
    if n.value == 0:
        return memoryview(b"")
    return memoryview((ctypes.c_char * n.value).from_address(buf.value)).cast("B").toreadonly()


class Record:
    """A record peeked in place: .data is a read-only memoryview into the shared segment, valid
    until release() (or the end of the with block), which frees it (and every record peeked
    before it on the same handle) for the producer. After release, .data raises ValueError."""

    def __init__(self, ring, view):
        self._ring = ring
        self.data = view

    def release(self):
        if self.data is not None:
            self.data.release()  # BufferError if a view derived from it is still alive
            self.data = None
            self._ring._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __len__(self):
        return len(self.data) if self.data is not None else 0


class _Handle:
    _close = None

    def __init__(self, name, role, opener):
        if role not in (PRODUCER, CONSUMER):
            raise ValueError("role must be PRODUCER or CONSUMER")
        self.name = name
        self.role = role
        h = _vp()
        _check(opener(_name(name), role, ctypes.byref(h)), "open %r" % name)
        self._h = h

    def close(self):
        """Detaches (a producer's close is the consumer's end of stream). Idempotent."""
        if self._h:
            type(self)._close(self._h)
            self._h = None

    def _live(self):
        if not self._h:
            raise ValueError("the handle is closed")
        return self._h

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __iter__(self):
        """pop() until end of stream."""
        while True:
            try:
                data = self.pop()
            except EndOfStream:
                return
            if data is not None:
                yield data


class Spsc(_Handle):
    """A handle on an SPSC ring (one producer, one consumer, records of any length)."""
    _close = _lib.shmring_spsc_close

    def __init__(self, name, role):
        super().__init__(name, role, _lib.shmring_spsc_open)
        self.max_record = _lib.shmring_ffi_spsc_max_record(self._h)
        self._buf = ctypes.create_string_buffer(min(self.max_record, 1 << 20) or 1)

    def push(self, data, timeout=None):
        """Copies one record (bytes-like) into the ring and publishes it. False on timeout."""
        data = bytes(data)
        rc = _lib.shmring_ffi_spsc_push_wait(self._live(), data, len(data), _ns(timeout))
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return False
        _check(rc, "push to %r" % self.name)
        return True

    def pop(self, timeout=None):
        """The next record as bytes (copied and freed), None on timeout; EndOfStream at the end."""
        while True:
            rc = _lib.shmring_ffi_spsc_pop_wait(self._live(), self._buf, len(self._buf), _ns(timeout))
            if rc == -_errno.EMSGSIZE and len(self._buf) < self.max_record:
                self._buf = ctypes.create_string_buffer(self.max_record)
                continue
            break
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return None
        _check(rc, "pop from %r" % self.name)
        return self._buf.raw[:rc]

    def peek(self, timeout=None):
        """The next record in place, zero copy, as a Record (use it in a with block), or None on
        timeout; EndOfStream at the end."""
        buf, n = _vp(), _sz()
        rc = _lib.shmring_ffi_spsc_peek_wait(self._live(), ctypes.byref(buf), ctypes.byref(n), _ns(timeout))
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return None
        _check(rc, "peek at %r" % self.name)
        return Record(self, _segment_view(buf, n))

    def reserve(self, size, timeout=None):
        """Zero copy for the producer: a writable memoryview of `size` bytes in the segment, or None
        on timeout. Publish with commit(); the view must not be used after it."""
        buf = _vp()
        rc = _lib.shmring_ffi_spsc_reserve_wait(self._live(), size, ctypes.byref(buf), _ns(timeout))
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return None
        _check(rc, "reserve in %r" % self.name)
        return memoryview((ctypes.c_char * size).from_address(buf.value)).cast("B") if size else memoryview(bytearray())

    def commit(self):
        """Publishes every record reserved since the last commit; returns how many."""
        return _lib.shmring_ffi_spsc_commit(self._live())

    def _release(self):
        _lib.shmring_ffi_spsc_release(self._live())

    def peer_count(self):
        return _check(_lib.shmring_spsc_peer_count(self._live()), "peer_count")


class Mpmc(_Handle):
    """A handle on an MPMC ring (many producers and consumers, fixed-size slots)."""
    _close = _lib.shmring_mpmc_close

    def __init__(self, name, role):
        super().__init__(name, role, _lib.shmring_mpmc_open)
        self.slot_size = _lib.shmring_ffi_mpmc_slot_size(self._h)
        self._buf = ctypes.create_string_buffer(self.slot_size)

    def push(self, data, timeout=None):
        """Copies one record (at most slot_size bytes) into a slot. False on timeout."""
        data = bytes(data)
        rc = _lib.shmring_ffi_mpmc_push_wait(self._live(), data, len(data), _ns(timeout))
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return False
        _check(rc, "push to %r" % self.name)
        return True

    def pop(self, timeout=None):
        """One record as bytes, None on timeout; EndOfStream when every producer is gone and the
        ring is empty."""
        rc = _lib.shmring_ffi_mpmc_pop_wait(self._live(), self._buf, self.slot_size, _ns(timeout))
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return None
        _check(rc, "pop from %r" % self.name)
        return self._buf.raw[:rc]

    def peer_count(self):
        return _check(_lib.shmring_mpmc_peer_count(self._live()), "peer_count")


class Bcast(_Handle):
    """A handle on a broadcast ring: one producer; each consumer sees every record (from the
    newest at open, or with oldest=True from the oldest still present)."""
    _close = _lib.shmring_bcast_close

    def __init__(self, name, role, oldest=False):
        flags = _BCAST_OLDEST if oldest and role == CONSUMER else 0
        super().__init__(name, role, lambda n, r, out: _lib.shmring_bcast_open(n, r, flags, out))
        self.slot_size = _lib.shmring_ffi_bcast_slot_size(self._h)
        self.lossy = bool(_lib.shmring_ffi_bcast_lossy(self._h))
        self._buf = ctypes.create_string_buffer(self.slot_size)

    @property
    def lost(self):
        """Consumer: records lost by being lapped since open (lossy rings)."""
        return _lib.shmring_ffi_bcast_lost(self._live())

    def push(self, data, timeout=None):
        """Copies one record (at most slot_size bytes) into the ring. False on timeout (a BLOCK
        ring whose slowest consumer stays a whole ring behind)."""
        data = bytes(data)
        rc = _lib.shmring_ffi_bcast_push_wait(self._live(), data, len(data), _ns(timeout))
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return False
        _check(rc, "push to %r" % self.name)
        return True

    def pop(self, timeout=None):
        """The next record as bytes (a validated copy), None on timeout; EndOfStream once the
        producer closed and every record was read. Records lost to the producer lapping this
        consumer are skipped and counted in .lost."""
        while True:
            rc = _lib.shmring_ffi_bcast_pop_wait(self._live(), self._buf, self.slot_size, _ns(timeout))
            if rc != -_errno.ENOBUFS:
                break
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return None
        _check(rc, "pop from %r" % self.name)
        return self._buf.raw[:rc]

    def peek(self, timeout=None):
        """The next record in place, zero copy, as a Record (use it in a with block), or None on
        timeout; EndOfStream at the end. On a lossy ring the producer may overwrite it while you
        read it: call valid() after reading and before using what you read."""
        buf, n = _vp(), _sz()
        while True:
            rc = _lib.shmring_ffi_bcast_peek_wait(self._live(), ctypes.byref(buf), ctypes.byref(n), _ns(timeout))
            if rc != -_errno.ENOBUFS:
                break
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return None
        _check(rc, "peek at %r" % self.name)
        return Record(self, _segment_view(buf, n))

    def valid(self):
        """After reading peeked records: True if they were intact (always, on a BLOCK ring);
        False if the producer overwrote them (discard what you read; they count as lost)."""
        rc = _lib.shmring_ffi_bcast_validate(self._live())
        if rc == -_errno.ENOBUFS:
            return False
        _check(rc, "validate %r" % self.name)
        return True

    def _release(self):
        _lib.shmring_ffi_bcast_release(self._live())

    def consumers(self):
        """Consumer entries registered now."""
        return _check(_lib.shmring_bcast_consumers(self._live()), "consumers")

    def peer_count(self):
        return _check(_lib.shmring_bcast_peer_count(self._live()), "peer_count")


class Control:
    """A ring's control channel: subscribe with mask (EV_ALL, or 1 << (type - 1) or'ed; 0:
    send only), recv() events, send() application messages."""

    def __init__(self, name, mask=EV_ALL):
        h = _vp()
        _check(_lib.shmring_control_open(_name(name), mask, ctypes.byref(h)), "control_open %r" % name)
        self._h = h

    def recv(self, timeout=None):
        """The next Event, or None on timeout."""
        ev = Event()
        rc = _lib.shmring_control_recv(self._h, ctypes.byref(ev), _ns(timeout))
        if rc in (-_errno.EAGAIN, -_errno.ETIMEDOUT):
            return None
        _check(rc, "control_recv")
        return ev

    def send(self, data=b"", code=0, to_pid=0):
        """Sends an application message (at most 240 bytes); returns how many subscribers got it."""
        data = bytes(data)
        return _check(_lib.shmring_control_send(self._h, to_pid, code, data, len(data)), "control_send")

    def close(self):
        if self._h:
            _lib.shmring_control_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
