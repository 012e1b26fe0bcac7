# Python under the preload heap (AETHER_HEAP=1): subprocess.run in its usual forms, each checked on
# what the child printed, and os.fork() children that go on running Python on their copy of the
# heap. The interpreter's objects (the data, the arguments, the preexec_fn) are all on the heap.
import os
import subprocess
import sys

lines = [str(i) for i in range(20000)]
data = ("\n".join(lines) + "\n").encode()
failures = []


def expect(what, got, want):
    if got != want:
        failures.append(what)
        print(f"{what}: got {got!r}, expected {want!r}", file=sys.stderr)


# The usual form (CPython starts the child without a full fork where it can).
packed = subprocess.run(["gzip", "-c"], input=data, capture_output=True, check=True).stdout
expect("gzip | gzip -d", subprocess.run(["gzip", "-dc"], input=packed, capture_output=True, check=True).stdout, data)

# preexec_fn: a real fork, and Python code running in the child before it execs.
def before_exec():
    if sum(len(s) for s in lines) == 0:
        os._exit(9)
counted = subprocess.run(["wc", "-l"], input=data, capture_output=True, preexec_fn=before_exec, check=True)
expect("wc -l with preexec_fn", int(counted.stdout), len(lines))

# A shell pipeline.
piped = subprocess.run("seq 1 20000 | gzip -c | gzip -dc | wc -l", shell=True, capture_output=True, text=True, check=True)
expect("shell pipeline", piped.stdout.strip(), "20000")

# A forked child that does not exec: it reads the parent's objects, builds new ones, and starts a
# child of its own.
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    try:
        table = {s: len(s) for s in lines}
        table.update((f"k{i}", i) for i in range(100000))
        text = "".join(lines[::-1])
        ok = (len(table) == 120000 and sum(len(s) for s in lines) == len(text)
              and subprocess.run(["wc", "-c"], input=text.encode(), capture_output=True).stdout.strip() == str(len(text)).encode())
        os.write(w, b"ok" if ok else b"bad")
    finally:
        os._exit(0)
os.close(w)
answer = os.read(r, 10)
_, status = os.waitpid(pid, 0)
expect("forked child", (answer, status), (b"ok", 0))

print("python subprocess and fork: " + ("ok" if not failures else "FAILED: " + ", ".join(failures)))
sys.exit(1 if failures else 0)
