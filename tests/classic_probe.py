#!/usr/bin/env python3
"""tests/classic_probe.py - the client side of tests/classic.sh.

  classic_probe.py ports N             print a base B with B+7, 9, 13, 19 and
                                       37 free on 127.0.0.1 (TCP and UDP), N
                                       such bases, each on a line
  classic_probe.py wait PORT...        until each TCP port of 127.0.0.1
                                       accepts (at most 5 s); exit 1 if not
  classic_probe.py compare ORIG SUPERD SERVICE PROTO PORT_ORIG PORT_SUPERD
                                       ask the original daemon and superd the
                                       same question and compare the answers
                                       (echo, daytime, time, chargen; tcp or
                                       udp); print "ok   ..." / "FAIL ..." and
                                       "note ..." lines; exit 1 on a FAIL

Every socket operation has a timeout; loopback only.
"""
import os
import random
import re
import socket
import sys
import time

HOST = "127.0.0.1"
OFFSETS = (7, 9, 13, 19, 37)
RFC868_EPOCH = 2208988800      # seconds from 1900-01-01 to 1970-01-01
RING = bytes(range(32, 127))   # RFC 864: the 95 printable characters
LINE = 72


def free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def cmd_ports(n):
    got, tries = [], 0
    while len(got) < n and tries < 1000:
        tries += 1
        base = random.randrange(20000, 60000, 100)
        if base in got or not all(free(base + o) for o in OFFSETS):
            continue
        got.append(base)
    if len(got) < n:
        return 1
    print("\n".join(str(b) for b in got))
    return 0


def cmd_wait(ports):
    deadline = time.monotonic() + 5
    for p in ports:
        while True:
            try:
                socket.create_connection((HOST, int(p)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    print("nothing listens on %s:%s after 5 s" % (HOST, p))
                    return 1
                time.sleep(0.05)
    return 0


def tcp_talk(port, data=b"", want=None):
    """Connect, send data, half-close, read to EOF (or `want` bytes)."""
    s = socket.create_connection((HOST, port), timeout=3)
    s.settimeout(3)
    try:
        if data:
            s.sendall(data)
        if want is None:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while want is None or len(out) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out if want is None else out[:want]
    finally:
        s.close()


def udp_talk(port, data):
    """One datagram out, one back (three tries); None when none came."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        for _ in range(3):
            s.sendto(data, (HOST, port))
            try:
                reply, _ = s.recvfrom(65536)
                return reply
            except socket.timeout:
                continue
        return None
    finally:
        s.close()


ECHO_DATA = b"superd classic compare \x00\xff\r\n" + os.urandom(200)


def ask(service, proto, port):
    if service == "echo":
        data = ECHO_DATA
        return data, (tcp_talk(port, data) if proto == "tcp" else udp_talk(port, data))
    if service == "chargen" and proto == "tcp":
        return None, tcp_talk(port, want=(LINE + 2) * 6)
    if proto == "tcp":
        return None, tcp_talk(port)
    # RFC 867, 868, 864 over UDP: any datagram (an empty one for time).
    return None, udp_talk(port, b"" if service == "time" else b"\n")


MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def daytime_parse(reply):
    """(seconds since the epoch in local time, shape) or (None, why)."""
    try:
        text = reply.decode("ascii")
    except UnicodeDecodeError:
        return None, "not ASCII"
    if not text.endswith("\n") or text.count("\n") != 1:
        return None, "not one line"
    line = text.rstrip("\r\n")
    hms = re.search(r"\b(\d\d):(\d\d):(\d\d)\b", line)
    year = re.search(r"\b(\d{4})\b", line)
    mon = re.search(r"\b(%s)[a-z]*\b" % "|".join(MONTHS), line, re.I)
    rest = line
    for m in (hms, year):
        if m:
            rest = rest.replace(m.group(0), " ")
    day = re.search(r"\b(\d{1,2})\b", rest)
    if not (hms and year and mon and day):
        return None, "no date and time in %r" % line
    tm = (int(year.group(1)), MONTHS.index(mon.group(1)[:3].lower()) + 1, int(day.group(1)),
          int(hms.group(1)), int(hms.group(2)), int(hms.group(3)), 0, 0, -1)
    shape = re.sub(r"[A-Za-z]+", "A", re.sub(r"\d+", "9", line))
    return time.mktime(tm), shape


def chargen_check(data, cut_line_ok=False):
    """(None, the first line's first character) when `data` is a run of the
    RFC 864 pattern from a line's start: lines of 72 characters and CRLF,
    each starting one character after the one before; the run may stop
    anywhere (a datagram's end).  cut_line_ok: its last line may also be
    shorter and still end in CRLF (xinetd's datagrams).  Else (why, None)."""
    pos, prev, first = 0, None, None
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        stop = end if end >= 0 else len(data)
        body = data[pos:stop]
        if end < 0 and body.endswith(b"\r"):
            body = body[:-1]
            if len(body) != LINE:
                return "a CR inside a line at byte %d" % pos, None
        last = end < 0 or end + 2 == len(data)
        if not body or body[0] not in RING:
            return "no pattern line at byte %d: %r" % (pos, data[pos:pos + 20]), None
        s0 = RING.index(body[0])
        if prev is not None and s0 != (prev + 1) % 95:
            return "the line at byte %d does not follow the one before" % pos, None
        if len(body) > LINE or body != bytes(RING[(s0 + j) % 95] for j in range(len(body))):
            return "the line at byte %d is not the pattern: %r" % (pos, body), None
        if len(body) < LINE and not (last and (end < 0 or cut_line_ok)):
            return "a line of %d characters at byte %d (%d bytes in all)" % (
                len(body), pos, len(data)), None
        prev = s0
        first = first if first is not None else chr(body[0])
        pos = stop + 2
    return None, first


class Report:
    def __init__(self, label):
        self.label = label
        self.failed = False

    def ok(self, msg):
        print("ok   %s: %s" % (self.label, msg))

    def fail(self, msg):
        print("FAIL %s: %s" % (self.label, msg))
        self.failed = True

    def note(self, msg):
        print("note %s: %s" % (self.label, msg))


def compare(orig, sup, service, proto, port_o, port_s):
    r = Report("%s/%s %s vs superd" % (service, proto, orig))
    try:
        sent, a = ask(service, proto, int(port_o))
        _, b = ask(service, proto, int(port_s))
    except OSError as e:
        r.fail("%s" % e)
        return 1
    if a is None or b is None:
        r.fail("no answer from %s" % (orig if a is None else sup))
        return 1
    if service == "echo":
        if a == sent and b == sent:
            r.ok("both echo the %d bytes unchanged" % len(sent))
        else:
            r.fail("%s echoed %d bytes, %s %d, of %d sent" % (orig, len(a), sup, len(b), len(sent)))
    elif service == "time":
        now = time.time() + RFC868_EPOCH
        if len(a) != 4 or len(b) != 4:
            r.fail("%s sent %d bytes, %s %d: 4 expected" % (orig, len(a), sup, len(b)))
        else:
            ta, tb = int.from_bytes(a, "big"), int.from_bytes(b, "big")
            if abs(ta - tb) <= 2 and abs(ta - now) <= 2:
                r.ok("both 4 bytes, big-endian seconds since 1900, %d s apart" % abs(ta - tb))
            else:
                r.fail("%s says %d, %s %d, now is %d" % (orig, ta, sup, tb, now))
    elif service == "daytime":
        pa, sa = daytime_parse(a)
        pb, sb = daytime_parse(b)
        if pa is None or pb is None:
            r.fail("%s: %s" % ((orig, sa) if pa is None else (sup, sb)))
        elif abs(pa - pb) > 2 or abs(pa - time.time()) > 2:
            r.fail("%s says %r, %s %r: more than 2 s apart" % (orig, a, sup, b))
        else:
            r.ok("both one line with the same date and time (%d s apart)" % abs(pa - pb))
            if sa != sb:
                r.note("formats differ: %s %r, superd %r (both parsed)" % (orig, a.decode(),
                                                                         b.decode()))
    elif service == "chargen":
        wa, fa = chargen_check(a, cut_line_ok=True)
        wb, fb = chargen_check(b)
        if wa or wb:
            r.fail("%s: %s" % ((orig, wa) if wa else (sup, wb)))
        elif proto == "tcp":
            if len(a) != len(b):
                r.fail("%s gave %d bytes, %s %d" % (orig, len(a), sup, len(b)))
            else:
                r.ok("both send the RFC 864 pattern, 72 characters and CRLF a line")
                if a == b:
                    r.ok("the same first %d lines byte for byte (first line starts with %r)"
                         % (len(a) // (LINE + 2), fa))
                else:
                    r.note("the first line starts with %r in %s, %r in superd" % (fa, orig, fb))
        elif len(b) > 512:
            r.fail("superd replied %d bytes: RFC 864 says at most 512" % len(b))
        else:
            r.ok("both reply with a run of the pattern from a line's start "
                 "(%s %d bytes, superd %d of 0-512)" % (orig, len(a), len(b)))
            if len(a) > 512 or (a and not a.endswith(b"\r\n" if len(a) % (LINE + 2) else b"")):
                r.note("%s's reply is %d bytes%s (RFC 864: 0-512); superd's is a random 0-512"
                       % (orig, len(a), ", its last line cut short and ended with CRLF"
                          if len(a) % (LINE + 2) else ""))
    return 1 if r.failed else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "ports":
        return cmd_ports(int(argv[2]) if len(argv) > 2 else 1)
    if len(argv) >= 3 and argv[1] == "wait":
        return cmd_wait(argv[2:])
    if len(argv) == 8 and argv[1] == "compare":
        return compare(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
