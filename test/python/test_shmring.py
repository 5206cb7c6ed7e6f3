"""Tests of the Python binding (python/shmring) over the built libshmring.so.2.

Run by test/python/python_test.sh (Bazel sh_test //test/python:python_test):
SHMRING_LIB=.../libshmring.so.2 PYTHONPATH=python python3 -m unittest test_shmring
"""
import errno
import os
import signal
import time
import unittest

import shmring

N = 20000


def ring_name(tag):
    return "py-%s-%d-%d" % (tag, os.getpid(), time.monotonic_ns() % 1000000)


def record(i):
    return i.to_bytes(8, "little") + bytes((i * 7 + j) & 0xFF for j in range(i % 50))


def fork(fn):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = fn() or 0
        finally:
            os._exit(code)
    return pid


def wait_ok(test, pid, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            test.assertEqual(os.waitstatus_to_exitcode(status), 0, "child failed")
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    test.fail("child hung")


class Spsc(unittest.TestCase):
    def setUp(self):
        self.name = ring_name("s")
        shmring.create_spsc(self.name, capacity=1 << 14)

    def tearDown(self):
        try:
            shmring.unlink(self.name)
        except shmring.ShmringError:
            pass

    def test_stream_between_processes_in_order_then_end_of_stream(self):
        def produce():
            with shmring.Spsc(self.name, shmring.PRODUCER) as p:
                for i in range(N):
                    assert p.push(record(i), timeout=30)

        with shmring.Spsc(self.name, shmring.CONSUMER) as c:
            pid = fork(produce)
            got = 0
            for data in c:
                self.assertEqual(data, record(got))
                got += 1
            self.assertEqual(got, N)
        wait_ok(self, pid)

    def test_zero_copy_peek_is_a_read_only_view_valid_until_release(self):
        with shmring.Spsc(self.name, shmring.PRODUCER) as p, shmring.Spsc(self.name, shmring.CONSUMER) as c:
            self.assertTrue(p.push(b"hello world"))
            with c.peek(timeout=1) as rec:
                self.assertIsInstance(rec.data, memoryview)
                self.assertTrue(rec.data.readonly)
                self.assertEqual(bytes(rec.data), b"hello world")
                self.assertEqual(len(rec), 11)
                view = rec.data
            with self.assertRaises(ValueError):
                bytes(view)  # released with the record
            self.assertIsNone(c.peek(timeout=0))

    def test_zero_copy_reserve_commit(self):
        with shmring.Spsc(self.name, shmring.PRODUCER) as p, shmring.Spsc(self.name, shmring.CONSUMER) as c:
            buf = p.reserve(5, timeout=1)
            buf[:] = b"abcde"
            self.assertEqual(p.commit(), 1)
            self.assertEqual(c.pop(timeout=1), b"abcde")

    def test_timeouts_and_full_ring(self):
        with shmring.Spsc(self.name, shmring.PRODUCER) as p, shmring.Spsc(self.name, shmring.CONSUMER) as c:
            self.assertIsNone(c.pop(timeout=0))
            t0 = time.monotonic()
            self.assertIsNone(c.pop(timeout=0.05))
            self.assertGreaterEqual(time.monotonic() - t0, 0.04)
            while p.push(b"x" * 100, timeout=0):
                pass
            self.assertFalse(p.push(b"x" * 100, timeout=0.01))

    def test_end_of_stream_after_close(self):
        p = shmring.Spsc(self.name, shmring.PRODUCER)
        with shmring.Spsc(self.name, shmring.CONSUMER) as c:
            p.push(b"last")
            p.close()
            p.close()  # idempotent
            self.assertEqual(c.pop(timeout=1), b"last")
            with self.assertRaises(shmring.EndOfStream) as cm:
                c.pop(timeout=1)
            self.assertEqual(cm.exception.errno, errno.EPIPE)
        with self.assertRaises(ValueError):
            p.push(b"after close")

    def test_record_too_large(self):
        with shmring.Spsc(self.name, shmring.PRODUCER) as p:
            with self.assertRaises(shmring.ShmringError) as cm:
                p.push(b"x" * (p.max_record + 1))
            self.assertEqual(cm.exception.errno, errno.EMSGSIZE)

    def test_align64_ring(self):
        name = ring_name("a64")
        shmring.create_spsc(name, capacity=4096, align=64)
        try:
            with shmring.Spsc(name, shmring.PRODUCER) as p, shmring.Spsc(name, shmring.CONSUMER) as c:
                self.assertEqual(p.max_record, 4096 - 72)
                self.assertTrue(p.push(b"x" * p.max_record, timeout=1))  # at offset 0
                self.assertEqual(c.pop(timeout=1), b"x" * (4096 - 72))
                for i in range(200):  # several laps of records of various lengths
                    self.assertTrue(p.push(b"%d" % i * (i % 40), timeout=1))
                    self.assertEqual(c.pop(timeout=1), b"%d" % i * (i % 40))
        finally:
            shmring.unlink(name)
        with self.assertRaises(ValueError):
            shmring.create_spsc(ring_name("a32"), align=32)

    def test_second_producer_is_busy(self):
        with shmring.Spsc(self.name, shmring.PRODUCER):
            with self.assertRaises(shmring.ShmringError) as cm:
                shmring.Spsc(self.name, shmring.PRODUCER)
            self.assertEqual(cm.exception.errno, errno.EBUSY)


class Mpmc(unittest.TestCase):
    def test_two_producers_one_consumer(self):
        name = ring_name("m")
        shmring.create_mpmc(name, slots=64, slot_size=64)
        try:
            def produce(base):
                def run():
                    with shmring.Mpmc(name, shmring.PRODUCER) as p:
                        for i in range(2000):
                            assert p.push(b"%d:%d" % (base, i), timeout=30)
                return run

            with shmring.Mpmc(name, shmring.CONSUMER) as c:
                self.assertEqual(c.slot_size, 64)
                pids = [fork(produce(b)) for b in (1, 2)]
                seen = {1: [], 2: []}
                # The 4000 records, bounded by wall time. One producer may come and go before the
                # other attaches: end of stream in between (no producer attached, ring empty) is
                # not the end of this test's stream.
                deadline = time.monotonic() + 60
                got = 0
                while got < 4000 and time.monotonic() < deadline:
                    try:
                        data = c.pop(timeout=1)
                    except shmring.EndOfStream:
                        time.sleep(0.01)
                        continue
                    if data is None:
                        continue
                    b, i = data.split(b":")
                    seen[int(b)].append(int(i))
                    got += 1
                for pid in pids:
                    wait_ok(self, pid)
                for b in (1, 2):
                    self.assertEqual(seen[b], list(range(2000)), "producer %d's records in order, once" % b)
                with self.assertRaises(shmring.EndOfStream):
                    c.pop(timeout=5)
        finally:
            shmring.unlink(name)


class Bcast(unittest.TestCase):
    def setUp(self):
        self.name = ring_name("b")

    def tearDown(self):
        try:
            shmring.unlink(self.name)
        except shmring.ShmringError:
            pass

    def test_every_consumer_sees_every_record_in_order(self):
        shmring.create_bcast(self.name, slots=64, slot_size=64)
        ready_r, ready_w = os.pipe()

        def consume():
            with shmring.Bcast(self.name, shmring.CONSUMER) as c:
                assert c.slot_size == 64 and not c.lossy
                os.write(ready_w, b"r")
                got = []
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        data = c.pop(timeout=1)
                    except shmring.EndOfStream:
                        break
                    if data is not None:
                        got.append(int(data))
                assert got == list(range(3000)), "got %d records, first wrong at %s" % (
                    len(got), next((i for i, v in enumerate(got) if v != i), None))
                assert c.lost == 0
            return 0

        pids = [fork(consume) for _ in range(2)]
        for _ in pids:
            self.assertEqual(os.read(ready_r, 1), b"r")
        with shmring.Bcast(self.name, shmring.PRODUCER) as p:
            self.assertEqual(p.peer_count(), 2)
            for i in range(3000):
                self.assertTrue(p.push(b"%d" % i, timeout=30))
        for pid in pids:
            wait_ok(self, pid)
        os.close(ready_r)
        os.close(ready_w)

    def test_lossy_consumer_counts_what_it_lost(self):
        shmring.create_bcast(self.name, slots=8, slot_size=16, lossy=True)
        c = shmring.Bcast(self.name, shmring.CONSUMER)
        self.assertTrue(c.lossy)
        with shmring.Bcast(self.name, shmring.PRODUCER) as p:
            for i in range(100):
                self.assertTrue(p.push(b"%d" % i, timeout=0))  # never waits
        got = []
        while True:
            try:
                data = c.pop(timeout=1)
            except shmring.EndOfStream:
                break
            self.assertIsNotNone(data)
            got.append(int(data))
        self.assertGreater(c.lost, 0)
        self.assertEqual(len(got) + c.lost, 100, "every record returned or counted as lost")
        self.assertEqual(got, list(range(100 - len(got), 100)), "the newest ones, in order")
        c.close()

    def test_zero_copy_peek_and_oldest(self):
        shmring.create_bcast(self.name, slots=16, slot_size=32)
        with shmring.Bcast(self.name, shmring.PRODUCER) as p:
            for i in range(5):
                p.push(b"rec%d" % i)
            # Joins at the oldest record still present (a plain consumer starts at the newest).
            with shmring.Bcast(self.name, shmring.CONSUMER, oldest=True) as c:
                with c.peek(timeout=1) as rec:
                    self.assertEqual(bytes(rec.data), b"rec0")
                    with self.assertRaises(TypeError):
                        rec.data[0] = 1  # read-only view into the segment
                    self.assertTrue(c.valid())
                self.assertEqual(c.pop(timeout=1), b"rec1")
            with shmring.Bcast(self.name, shmring.CONSUMER) as newest:
                self.assertEqual(newest.pop(timeout=1), b"rec4")
        with self.assertRaises(shmring.ShmringError) as cm:
            shmring.Bcast(self.name + "-none", shmring.CONSUMER)
        self.assertEqual(cm.exception.errno, errno.ENOENT)


class Errors(unittest.TestCase):
    def test_errors_are_oserrors_with_shmring_messages(self):
        with self.assertRaises(shmring.ShmringError) as cm:
            shmring.Spsc(ring_name("none"), shmring.CONSUMER)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertIn("no ring of that name", str(cm.exception))
        self.assertIsInstance(cm.exception, OSError)
        with self.assertRaises(shmring.ShmringError) as cm:
            shmring.create_spsc("a/b")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(shmring.ShmringError) as cm:
            shmring.create_spsc("x" * 64)
        self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG)
        with self.assertRaises(shmring.ShmringError) as cm:
            shmring.create_spsc(ring_name("cap"), capacity=1000)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(ValueError):
            shmring.Spsc("whatever", 3)
        self.assertEqual(shmring.err_name(-errno.EPIPE), "EPIPE")
        self.assertIn("end of stream", shmring.strerror(errno.EPIPE))

    def test_control_events_and_app_messages(self):
        name = ring_name("c")
        shmring.create_spsc(name)
        try:
            with shmring.Control(name) as ctl:
                with shmring.Spsc(name, shmring.PRODUCER):
                    pass
                ev = ctl.recv(timeout=5)
                self.assertEqual(ev.name, "ATTACH")
                self.assertEqual(ev.pid, os.getpid())
                self.assertEqual(ctl.send(b"reload", code=7), 1)
                kinds = []
                while True:
                    ev = ctl.recv(timeout=0.2)
                    if ev is None:
                        break
                    kinds.append(ev.name)
                    if ev.type == shmring.EV_APP:
                        self.assertEqual((ev.code, ev.data), (7, b"reload"))
                self.assertEqual(kinds, ["DETACH", "EOS", "APP"])
        finally:
            shmring.unlink(name)


if __name__ == "__main__":
    unittest.main()
