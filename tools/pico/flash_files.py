"""Runs on the MicroPython unix port: edits the files in an emulated Pico's flash file.

The flash file holds the Pico's littlefs region (1408 KiB, 4096-byte blocks, mounted by the rp2
port with progsize 256); this mounts it with the interpreter's own littlefs, so nothing has to
race a running main.py through the REPL.
Usage: micropython flash_files.py FLASH_FILE [rm NAME | mv OLD NEW | put NAME SOURCE | ls] ...
"""

import os
import sys

import vfs

BLOCK = 4096


class FileDevice:
    def __init__(self, data):
        self.data = data
        self.blocks = len(data) // BLOCK

    def readblocks(self, block, buf, offset=0):
        start = block * BLOCK + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            for i in range(len(buf) // BLOCK):  # a whole-block write erases first
                self.data[(block + i) * BLOCK : (block + i + 1) * BLOCK] = b"\xff" * BLOCK
            offset = 0
        start = block * BLOCK + offset
        self.data[start : start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        if op == 6:  # erase
            self.data[arg * BLOCK : (arg + 1) * BLOCK] = b"\xff" * BLOCK
            return 0
        return 0


def main(argv):
    path = argv[0]
    with open(path, "rb") as f:
        data = bytearray(f.read())
    dev = FileDevice(data)
    vfs.mount(vfs.VfsLfs2(dev, progsize=256), "/pico")
    i = 1
    while i < len(argv):
        op = argv[i]
        if op == "rm":
            try:
                os.remove("/pico/" + argv[i + 1])
            except OSError:
                pass
            i += 2
        elif op == "mv":
            os.rename("/pico/" + argv[i + 1], "/pico/" + argv[i + 2])
            i += 3
        elif op == "put":
            with open(argv[i + 2], "rb") as src, open("/pico/" + argv[i + 1], "wb") as dst:
                dst.write(src.read())
            i += 3
        elif op == "ls":
            print(sorted(os.listdir("/pico")), sorted(os.listdir("/pico/lib")))
            i += 1
        else:
            raise SystemExit("unknown operation " + op)
    vfs.umount("/pico")
    with open(path, "wb") as f:
        f.write(data)


main(sys.argv[1:])
