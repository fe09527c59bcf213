# Types of the optional C module (src/oomkit/_linecount.c).
import mmap

def count(buffer: memoryview | bytes | bytearray | mmap.mmap, start: int, stop: int, /) -> int: ...
