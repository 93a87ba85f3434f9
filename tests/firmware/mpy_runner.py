"""Runs the test_* functions of one test module on MicroPython and reports each by name.

Usage: micropython mpy_runner.py test_module [test_name]
Prints "PASS name" or "FAIL name: error" per test and "SUMMARY passed failed" last; exits 1
if any failed.
"""

import sys


def main():
    module_name = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) > 2 else None
    module = __import__(module_name)
    passed = failed = 0
    for name in sorted(dir(module)):
        if not name.startswith("test_") or (only and name != only):
            continue
        fn = getattr(module, name)
        try:
            fn()
        except Exception as exc:  # noqa: BLE001  (report every failure, keep going)
            failed += 1
            print("FAIL %s: %s: %s" % (name, type(exc).__name__, exc))
            sys.print_exception(exc)
        else:
            passed += 1
            print("PASS %s" % name)
    print("SUMMARY %d %d" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


main()
