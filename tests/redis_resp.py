"""redis_resp.py PORT [--inline] - a raw RESP client for tests/test_redis_*.sh.

Reads commands from stdin, one per line, split like a shell (shlex); sends
each as a RESP array (or, with --inline, as the line itself) and prints
'> line' then the reply in a canonical, diff-friendly form.  Lines that are
empty or start with '#' are skipped.  Never waits more than 10 s for one
reply."""
import shlex
import socket
import sys


def read_reply(f):
    line = f.readline()
    if not line:
        return ['<closed>']
    t = line[:1]
    if t in (b'+', b'-', b':'):
        return [line.rstrip(b'\r\n').decode('latin1')]
    if t == b'$':
        n = int(line[1:])
        if n < 0:
            return ['$-1']
        data = f.read(n + 2)
        return ['$' + repr(data[:-2].decode('latin1'))]
    if t == b'*':
        n = int(line[1:])
        out = ['*%d' % n]
        for _ in range(max(n, 0)):
            out += ['  ' + x for x in read_reply(f)]
        return out
    return ['<bad %r>' % line]


def encode(args):
    args = [a if isinstance(a, bytes) else a.encode('latin1') for a in args]
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


def main():
    port = int(sys.argv[1])
    inline = '--inline' in sys.argv[2:]
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    f = s.makefile('rb')
    for cmd in sys.stdin:
        cmd = cmd.rstrip('\n')
        if not cmd or cmd.startswith('#'):
            continue
        print('> ' + cmd)
        try:
            s.sendall(cmd.encode('latin1') + b'\r\n' if inline else encode(shlex.split(cmd)))
        except OSError:
            print('<closed>')
            break
        args = shlex.split(cmd) if not inline else cmd.split()
        # (un)subscribe answers once per channel
        n = max(1, len(args) - 1) if args[0].lower() in ('subscribe', 'unsubscribe') else 1
        for _ in range(n):
            for line in read_reply(f):
                print(line)
    s.close()


if __name__ == '__main__':
    main()
