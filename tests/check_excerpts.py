#!/usr/bin/env python3
"""Docs that cannot drift (STYLE rule 20): checks that every C code block preceded by <!-- excerpt: PATH --> in the
given markdown files is made of runs of whole lines of PATH, in order, with
'/* ... */' lines standing for elided text."""
import re, sys, os
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bad = 0
for md in sys.argv[1:]:
    text = open(md).read().split('\n')
    i = 0
    nblocks = 0
    while i < len(text):
        m = re.match(r'<!-- excerpt: (\S+) -->', text[i])
        if m and i + 1 < len(text) and text[i+1].startswith('```'):
            path = m.group(1)
            src = open(os.path.join(root, path)).read().split('\n')
            j = i + 2
            block = []
            while not text[j].startswith('```'):
                block.append(text[j]); j += 1
            segs, cur = [], []
            for l in block:
                if l.strip() == '/* ... */':
                    segs.append(cur); cur = []
                else:
                    cur.append(l)
            segs.append(cur)
            pos = 0
            for s in segs:
                if not s: continue
                found = -1
                for k in range(pos, len(src) - len(s) + 1):
                    if src[k:k+len(s)] == s:
                        found = k; break
                if found < 0:
                    print(f'{md}:{i+1}: segment not found in {path}: {s[0]!r}...'); bad += 1; break
                pos = found + len(s)
            nblocks += 1
            i = j
        elif text[i].rstrip() == '```c':
            print(f'{md}:{i+1}: C block without excerpt marker'); bad += 1
        i += 1
    print(f'{md}: {nblocks} excerpt blocks checked')
# The errors table of ACTORS.md is the X-macro list of acto_error.h.
errs = re.findall(r'X\((\w+), (-\d+), "([^"]*)"\)', open(os.path.join(root, 'include/acto/acto_error.h')).read())
guide = open(os.path.join(root, 'ACTORS.md')).read()
for name, val, msg in errs:
    row = f'| `ACTO_{name}` | {val} | {msg} |'
    if row not in guide:
        print(f'ACTORS.md: errors table lacks: {row}'); bad += 1
print(f'ACTORS.md: {len(errs)} error codes checked against the table')
sys.exit(1 if bad else 0)
