#!/usr/bin/env python3
"""Fails when an #include points up the layers of podflame.

Layers, top to bottom (DESIGN.md's data flow):
  profiler/ (the commands)  ->  profiler/agent/, profiler/query/  ->  profiler/watch/
  ->  profiler/sampling/  ->  profiler/kube/, profiler/io/  ->  symbolize/
  ->  formats/
A file may include its own folder and any folder below it; folders on one
level do not include each other. bpf/ holds what the BPF programs share
with userspace and may be included from anywhere. Run from the top of the
tree: tools/lint/include-order.py [FILE...]
"""
import os
import re
import sys

LEVEL = {
    'profiler': 6,
    'profiler/agent': 5,
    'profiler/query': 5,
    'profiler/watch': 4,
    'profiler/sampling': 3,
    'profiler/kube': 2,
    'profiler/io': 2,
    'symbolize': 1,
    'formats': 0,
}
SHARED = {'bpf'}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder(path):
    return os.path.dirname(os.path.normpath(path))


def sources():
    for top in ('formats', 'symbolize', 'profiler'):
        for dirpath, _, names in os.walk(top):
            for n in sorted(names):
                if n.endswith(('.c', '.h')):
                    yield os.path.join(dirpath, n)


def check(path):
    bad = []
    here = folder(path)
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            there = folder(target) if '/' in target else here
            if there in SHARED or there == here or not os.path.exists(target) and '/' not in target:
                continue  # its own folder, or a generated header in build/
            if there not in LEVEL:
                bad.append(f'{path}:{lineno}: includes "{target}" from outside the layers')
            elif here in LEVEL and LEVEL[there] >= LEVEL[here]:
                way = 'up' if LEVEL[there] > LEVEL[here] else 'sideways'
                bad.append(f'{path}:{lineno}: includes "{target}": {here}/ may not point {way} '
                           f'to {there}/')
    return bad


def main():
    paths = sys.argv[1:] or list(sources())
    bad = [b for p in paths for b in check(p)]
    for b in bad:
        print(b)
    if bad:
        print(f'include-order: {len(bad)} include(s) point the wrong way; '
              'see tools/lint/include-order.py for the layers', file=sys.stderr)
        return 1
    print(f'include-order: {len(paths)} files, every include points down')
    return 0


if __name__ == '__main__':
    sys.exit(main())
