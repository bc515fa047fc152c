#!/usr/bin/env python3
"""Crafted ELF files for tests/integration/hostile.sh: what a hostile
container could put where podflame reads binaries.

usage: craft_elf.py symbomb OUT      1,000,000 function symbols naming one 1 MB string
       craft_elf.py symnames OUT     100,000 symbols with distinct 8 KB names (2.4 MB)
       craft_elf.py dwarfbomb OUT    .debug_info of 1 MB that inflates to 1 GiB
       craft_elf.py dwarfclaim OUT   a tiny .debug_info whose header claims 1 GiB (a fuzz seed)
       craft_elf.py plain OUT        the same file without any of that
       craft_elf.py debuglink NAME DEBUGFILE OUT
                                     a .gnu_debuglink section's content naming NAME
                                     with DEBUGFILE's CRC (for objcopy --add-section)

Every ELF file has one executable segment whose code at CODE_OFFSET is a
"jmp ." named hostile_spin: tests/workloads/jitspin maps the file and spins
there, so that samples land in it.
"""
import struct
import sys
import zlib

CODE_OFFSET = 0x1000
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB = 1, 2, 3
SHF_ALLOC, SHF_EXECINSTR, SHF_COMPRESSED = 0x2, 0x4, 0x800


def elf(symbols, strtab, extra_sections=()):
    """symbols: list of (name offset, value, size); extra: (name, type, flags, data)."""
    code = b"\xeb\xfe" + b"\x90" * 14
    sections = [(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, code, CODE_OFFSET)]
    sym = bytearray(24)  # the null symbol
    one = {}
    for name, value, size in symbols:
        key = (name, value, size)
        if key not in one:
            one[key] = struct.pack("<IBBHQQ", name, 0x12, 0, 1, value, size)
        sym += one[key]
    sections.append((".symtab", SHT_SYMTAB, 0, bytes(sym), None))
    sections.append((".strtab", SHT_STRTAB, 0, strtab, None))
    sections.extend((n, t, f, d, None) for n, t, f, d in extra_sections)
    names = b"\0" + b"".join(s[0].encode() + b"\0" for s in sections) + b".shstrtab\0"
    sections.append((".shstrtab", SHT_STRTAB, 0, names, None))

    out = bytearray(CODE_OFFSET)
    offsets = []
    for name, typ, flags, data, at in sections:
        if at is None:
            at = (len(out) + 7) & ~7
        out += b"\0" * (at - len(out))
        offsets.append(at)
        out += data
    shoff = (len(out) + 7) & ~7
    out += b"\0" * (shoff - len(out))
    out += b"\0" * 64  # the null section header
    strtab_index = 3  # .symtab links to .strtab
    for i, (name, typ, flags, data, _) in enumerate(sections):
        name_off = names.index(name.encode() + b"\0")
        link = strtab_index if typ == SHT_SYMTAB else 0
        info = 1 if typ == SHT_SYMTAB else 0
        entsize = 24 if typ == SHT_SYMTAB else 0
        addr = offsets[i] if flags & SHF_ALLOC else 0
        out += struct.pack("<IIQQQQIIQQ", name_off, typ, flags, addr, offsets[i], len(data),
                           link, info, 8 if typ == SHT_SYMTAB else 1, entsize)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, CODE_OFFSET + 16, CODE_OFFSET + 16, 0x1000)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 3, 62, 1,
                       CODE_OFFSET, 64, shoff, 0, 64, 56, 1, 64, len(sections) + 1,
                       len(sections))
    out[0:64] = ehdr
    out[64:64 + 56] = phdr
    return bytes(out)


def plain(extra=()):
    strtab = b"\0hostile_spin\0"
    return elf([(1, CODE_OFFSET, 2)], strtab, extra)


def main():
    mode = sys.argv[1]
    if mode == "debuglink":
        name, debug, out = sys.argv[2:5]
        with open(debug, "rb") as f:
            crc = zlib.crc32(f.read())
        data = name.encode() + b"\0"
        data += b"\0" * (-len(data) % 4) + struct.pack("<I", crc)
        with open(out, "wb") as f:
            f.write(data)
        return
    out = sys.argv[2]
    if mode == "symbomb":
        strtab = b"\0hostile_spin\0" + b"A" * (1 << 20) + b"\0"
        data = elf([(1, CODE_OFFSET, 2)] + [(14, CODE_OFFSET, 2)] * 1000000, strtab)
    elif mode == "symnames":
        long = bytes(0x41 + (i * 7) % 26 for i in range(8192 + 100000))
        strtab = b"\0hostile_spin\0" + long + b"\0"
        data = elf([(1, CODE_OFFSET, 2)] + [(14 + i, CODE_OFFSET + 16 + i, 1) for i in range(100000)],
                   strtab)
    elif mode == "dwarfbomb":
        z = zlib.compressobj(9)
        chunk = b"\0" * (64 << 20)
        stream = b"".join(z.compress(chunk) for _ in range(16)) + z.flush()
        chdr = struct.pack("<IIQQ", 1, 0, 1 << 30, 1)  # ELFCOMPRESS_ZLIB, 1 GiB
        data = plain([(".debug_info", SHT_PROGBITS, SHF_COMPRESSED, chdr + stream),
                      (".debug_abbrev", SHT_PROGBITS, 0, b"\0")])
    elif mode == "dwarfclaim":
        chdr = struct.pack("<IIQQ", 1, 0, 1 << 30, 1)
        data = plain([(".debug_info", SHT_PROGBITS, SHF_COMPRESSED, chdr + zlib.compress(b"\0" * 4096)),
                      (".debug_abbrev", SHT_PROGBITS, 0, b"\0")])
    elif mode == "plain":
        data = plain()
    else:
        sys.exit(__doc__)
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
