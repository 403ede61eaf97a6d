"""A UVC webcam at the ioctl level, for running afon's `LinuxpyDevice` through real linuxpy code.

As linuxpy's own tests do (``tests/test_video.py``: ``Hardware`` patches
``linuxpy.ioctl.fcntl.ioctl``, ``linuxpy.io.open`` and ``linuxpy.video.device.mmap.mmap``),
only the kernel boundary is replaced; every linuxpy function above it runs as it is. The device
follows the V4L2 API (``Documentation/userspace-api/media/v4l``) and uvcvideo where they matter
to afon:

- VIDIOC_QUERY_EXT_CTRL with V4L2_CTRL_FLAG_NEXT_CTRL enumerates ``focus_absolute`` (0..250 step
  5, a C920's) and ``focus_automatic_continuous`` (default on) by id; while continuous AF is on,
  ``focus_absolute`` carries V4L2_CTRL_FLAG_INACTIVE and writing it fails with EACCES
  (uvcvideo's ``uvc_ctrl_set``); written values are clamped and rounded to the step.
- S_FMT/G_FMT: YUYV at the size asked for; S_PARM/G_PARM: the frame interval.
- REQBUFS/QUERYBUF/mmap/QBUF/DQBUF/STREAMON: dequeued buffers carry the frame, a sequence
  number and a CLOCK_MONOTONIC timestamp at the *start of exposure* with
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | V4L2_BUF_FLAG_TSTAMP_SRC_SOE (``uvc_queue.c``).
- Anything else answers EINVAL ("not supported"), which linuxpy's enumerations stop at.

The device "file" is a pipe kept readable, so ``select`` on it reports a frame ready.
"""

from __future__ import annotations

import errno
import os
from contextlib import ExitStack
from typing import Any
from unittest import mock

from linuxpy.video import raw

FOCUS_ABSOLUTE = 0x009A090A  # V4L2_CID_FOCUS_ABSOLUTE
FOCUS_AUTO = 0x009A090C  # V4L2_CID_FOCUS_AUTO (focus_automatic_continuous since 5.16)
NEXT = int(raw.ControlFlag.NEXT_CTRL | raw.ControlFlag.NEXT_COMPOUND)
SOE_MONOTONIC = 0x00010000 | 0x00002000
FRAME_INTERVAL_S = 1 / 30


class IoctlWebcam:
    """Patches linuxpy's kernel calls while entered (``with IoctlWebcam() as cam: ...``)."""

    def __init__(self, size: tuple[int, int] = (32, 24)) -> None:
        self.values = {FOCUS_ABSOLUTE: 0, FOCUS_AUTO: 1}
        self.size = size
        self.fps = 30
        self.streaming = False
        self.buffers: list[bytearray] = []
        self.queued: list[int] = []
        self.sequence = 0
        self.t_s = 1000.0  # CLOCK_MONOTONIC of the next exposure start
        self.writes: list[tuple[int, int]] = []
        self.refused: list[tuple[int, int]] = []
        self._read_fd, self._write_fd = os.pipe()
        os.write(self._write_fd, b"x")  # always readable: a frame is ready

    # --- patching --------------------------------------------------------------------------
    def __enter__(self) -> IoctlWebcam:
        self._stack = ExitStack()
        self._stack.enter_context(mock.patch("linuxpy.ioctl.fcntl.ioctl", self.ioctl))
        self._stack.enter_context(mock.patch("linuxpy.io.open", self.open))
        self._stack.enter_context(mock.patch("linuxpy.video.device.mmap.mmap", self.mmap))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        os.close(self._write_fd)

    def open(self, path: Any, mode: Any, buffering: int = -1, opener: Any = None) -> Any:
        return os.fdopen(os.dup(self._read_fd), "rb", buffering=0)

    def mmap(self, fd: Any, length: int, offset: int = 0, **_: Any) -> bytearray:
        return self.buffers[offset // 4096]

    # --- the kernel ------------------------------------------------------------------------
    def _query(self, arg: Any) -> None:
        wanted = arg.id & ~NEXT
        ids = sorted(self.values)
        if arg.id & NEXT:
            later = [i for i in ids if i > wanted]
            if not later:
                raise OSError(errno.EINVAL, "no more controls")
            cid = later[0]
        elif wanted in self.values:
            cid = wanted
        else:
            raise OSError(errno.EINVAL, "no such control")
        arg.id = cid
        arg.elem_size = 4
        arg.elems = 1
        arg.nr_of_dims = 0
        if cid == FOCUS_ABSOLUTE:
            arg.name = b"Focus, Absolute"
            arg.type = raw.CtrlType.INTEGER
            arg.minimum, arg.maximum, arg.step, arg.default_value = 0, 250, 5, 0
            arg.flags = raw.ControlFlag.INACTIVE if self.values[FOCUS_AUTO] else 0
        else:
            arg.name = b"Focus, Automatic Continuous"
            arg.type = raw.CtrlType.BOOLEAN
            arg.minimum, arg.maximum, arg.step, arg.default_value = 0, 1, 1, 1
            arg.flags = 0

    def _set(self, cid: int, value: int) -> None:
        if cid not in self.values:
            raise OSError(errno.EINVAL, "no such control")
        if cid == FOCUS_ABSOLUTE:
            if self.values[FOCUS_AUTO]:
                self.refused.append((cid, value))
                raise OSError(errno.EACCES, "Permission denied")
            value = min(max(round(value / 5) * 5, 0), 250)
        else:
            value = 1 if value else 0
        self.writes.append((cid, value))
        self.values[cid] = value

    def ioctl(self, fd: Any, ioc: int, arg: Any) -> int:
        IOC = raw.IOC
        if ioc == IOC.QUERYCAP:
            arg.driver = b"uvcvideo"
            arg.card = b"HD Pro Webcam C920"
            arg.bus_info = b"usb-0000:01:00.0-1.2"
            arg.version = 6 << 16 | 1 << 8
            caps = raw.Capability.STREAMING | raw.Capability.VIDEO_CAPTURE
            arg.capabilities = caps | raw.Capability.DEVICE_CAPS
            arg.device_caps = caps
        elif ioc == IOC.QUERY_EXT_CTRL:
            self._query(arg)
        elif ioc == IOC.G_EXT_CTRLS:
            for i in range(arg.count):
                ctrl = arg.controls[i]
                if ctrl.id not in self.values:
                    raise OSError(errno.EINVAL, "no such control")
                ctrl.value = self.values[ctrl.id]
        elif ioc == IOC.S_EXT_CTRLS:
            for i in range(arg.count):
                self._set(arg.controls[i].id, arg.controls[i].value)
        elif ioc == IOC.G_CTRL:
            if arg.id not in self.values:
                raise OSError(errno.EINVAL, "no such control")
            arg.value = self.values[arg.id]
        elif ioc == IOC.S_CTRL:
            self._set(arg.id, arg.value)
        elif ioc in (IOC.S_FMT, IOC.G_FMT, IOC.TRY_FMT):
            if ioc != IOC.G_FMT:
                self.size = (int(arg.fmt.pix.width), int(arg.fmt.pix.height))
            arg.fmt.pix.width, arg.fmt.pix.height = self.size
            arg.fmt.pix.pixelformat = raw.PixelFormat.YUYV
            arg.fmt.pix.bytesperline = self.size[0] * 2
            arg.fmt.pix.sizeimage = self.size[0] * self.size[1] * 2
        elif ioc == IOC.S_PARM:
            self.fps = int(arg.parm.capture.timeperframe.denominator) or self.fps
        elif ioc == IOC.G_PARM:
            arg.parm.capture.timeperframe.numerator = 1
            arg.parm.capture.timeperframe.denominator = self.fps
        elif ioc == IOC.REQBUFS:
            size = self.size[0] * self.size[1] * 2
            self.buffers = [bytearray(size) for _ in range(arg.count)]
            self.queued = []
        elif ioc == IOC.QUERYBUF:
            arg.length = len(self.buffers[arg.index])
            arg.m.offset = arg.index * 4096
        elif ioc == IOC.QBUF:
            self.queued.append(arg.index)
        elif ioc == IOC.DQBUF:
            if not self.streaming or not self.queued:
                raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
            index = self.queued.pop(0)
            data = self.buffers[index]
            data[:] = bytes([60 + (self.sequence * 10) % 120, 128]) * (len(data) // 2)
            arg.index = index
            arg.bytesused = len(data)
            arg.sequence = self.sequence
            arg.flags = SOE_MONOTONIC
            secs = int(self.t_s)
            arg.timestamp.secs = secs
            arg.timestamp.usecs = round((self.t_s - secs) * 1e6)
            self.sequence += 1
            self.t_s += FRAME_INTERVAL_S
        elif ioc == IOC.STREAMON:
            self.streaming = True
        elif ioc == IOC.STREAMOFF:
            self.streaming = False
        else:
            raise OSError(errno.EINVAL, "not supported by this webcam")
        return 0
