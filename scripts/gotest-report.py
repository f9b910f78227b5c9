#!/usr/bin/env python3
"""Reads `go test -json` on standard input and prints, for a run that
passed, each package's result and every skipped test with its reason; for
a run that failed, first the whole output of each failed test, then each
package's result, so the real message is never cut off by passing output.
Exits 1 when anything failed."""
import json
import sys

out = {}       # (package, test) -> output lines
status = {}    # (package, test) -> pass/fail/skip
pkgs = []      # (package, action, elapsed)
other = []     # lines that are not JSON (build errors)
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        other.append(line.rstrip('\n'))
        continue
    key = (ev.get('Package', ''), ev.get('Test'))
    act = ev.get('Action')
    if act == 'build-output':
        other.append(ev.get('Output', '').rstrip('\n'))
        continue
    if act == 'output':
        out.setdefault(key, []).append(ev.get('Output', ''))
    elif act in ('pass', 'fail', 'skip'):
        if key[1] is None:
            pkgs.append((key[0], act, ev.get('Elapsed', 0)))
        else:
            status[key] = act

failed = [k for k, a in status.items() if a == 'fail']
# a parent test fails with its subtest: show the innermost ones first
failed.sort(key=lambda k: (-k[1].count('/'), k))
pkg_failed = [p for p, a, _ in pkgs if a == 'fail']
if failed or pkg_failed or other:
    for k in failed:
        print(f'==== {k[1]} ({k[0]})')
        sys.stdout.write(''.join(l for l in out.get(k, []) if not l.startswith('=== ')))
    for p in pkg_failed:
        # a package that failed outside any test (a panic, a build error)
        lines = out.get((p, None), [])
        print(f'==== {p}')
        sys.stdout.write(''.join(lines[-60:]))
    for l in other:
        print(l)
for p, a, e in pkgs:
    if a == 'pass':
        print(f'ok  \t{p}\t{e:.3f}s')
    elif a == 'fail':
        print(f'FAIL\t{p}')
    elif a == 'skip':
        print(f'?   \t{p}\t[no test files]' if not any(k[0] == p for k in status) else f'ok  \t{p}')
for k, a in sorted(status.items()):
    if a == 'skip':
        reason = [l.strip() for l in out.get(k, []) if '_test.go:' in l]
        print(f'--- SKIP: {k[1]} ({k[0]})' + (f': {reason[-1]}' if reason else ''))
sys.exit(1 if failed or pkg_failed or other else 0)
