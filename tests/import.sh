#!/bin/sh
# superd-import: convert inetd.conf and xinetd files and compare with the
# expected superd.ini text (tests/import/*.expected); check with superd -t
# what superd can already load.  Then the files Debian's openbsd-inetd,
# inetutils-inetd and xinetd packages ship (apt-get download, unpacked in
# the build tree, never installed), as shipped and with their services on.
#
#   sh tests/import.sh BUILD        (run from the repository root)
#   UPDATE=1 sh tests/import.sh ... rewrites the .expected files
set -u
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
TOP=$(pwd)
IMP=$BUILD/superd-import
SUPERD=$BUILD/superd
OUT=$BUILD/tests/import
mkdir -p "$OUT"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }

# superd -t needs every plugin the file names, and the program key when it
# has one: until the exec, forward, chargen and time work lands, such files
# are compared as text only (and said so).
can_load() {
    for p in $(sed -n 's/^plugin = //p' "$1" | sort -u); do
        [ -e "$BUILD/plugins/$p.so" ] || { echo "plugin $p not built yet"; return 1; }
    done
    if grep -q '^program = ' "$1"; then
        printf '[probe]\nprogram = /bin/cat\nlisten = tcp://127.0.0.1:1\n' > "$OUT/probe.ini"
        "$SUPERD" -t -c "$OUT/probe.ini" >/dev/null 2>&1 || { echo "superd runs no program yet"; return 1; }
    fi
    return 0
}

# check NAME EXPECTED [superd-import arguments...]: the text, then -t.
check() {
    name=$1 expected=$2
    shift 2
    "$IMP" "$@" > "$OUT/$name.ini" 2> "$OUT/$name.err"
    rc=$?
    [ $rc -eq 0 ] || { fail "$name: exit status $rc: $(cat "$OUT/$name.err")"; return; }
    if [ -n "${UPDATE:-}" ] && [ -n "$expected" ]; then
        cp "$OUT/$name.ini" "$expected"
    fi
    if [ -n "$expected" ]; then
        if diff -u "$expected" "$OUT/$name.ini" > "$OUT/$name.diff"; then
            pass "$name: output as expected"
        else
            fail "$name: output differs from $expected:"; cat "$OUT/$name.diff"
        fi
    fi
    if ! grep -q '^\[' "$OUT/$name.ini" || ! grep -q -v -e '^enabled = no' "$OUT/$name.ini" ||
       [ "$(grep -c '^\[' "$OUT/$name.ini")" -eq "$(grep -c '^enabled = no' "$OUT/$name.ini")" ]; then
        return    # no enabled service: superd -t refuses such a file by design
    fi
    case " ${TEXT_ONLY:-} " in *" $name "*)
        echo "skip $name: superd -t not run: text only (it names programs this machine lacks)"
        return ;;
    esac
    if why=$(can_load "$OUT/$name.ini"); then
        if "$SUPERD" -t -c "$OUT/$name.ini" > "$OUT/$name.t" 2>&1; then
            pass "$name: superd -t passes"
        else
            fail "$name: superd -t:"; cat "$OUT/$name.t"
        fi
    else
        echo "skip $name: superd -t not run: $why"
    fi
}

# Usage and unreadable input.
"$IMP" >/dev/null 2>&1; [ $? -eq 2 ] && pass "no argument: exit 2" || fail "no argument: not exit 2"
"$IMP" -f nope x >/dev/null 2>&1; [ $? -eq 2 ] && pass "-f nope: exit 2" || fail "-f nope: not exit 2"
"$IMP" /nonexistent/inetd.conf >/dev/null 2>"$OUT/nofile.err"
[ $? -eq 1 ] && grep -q '^superd-import: /nonexistent/inetd.conf: No such file' "$OUT/nofile.err" &&
    pass "missing file: exit 1, named" || fail "missing file: $(cat "$OUT/nofile.err")"

T=tests/import
TEXT_ONLY="inetd-all xinetd-all"
check inetd-all "$T/inetd-all.expected" "$T/inetd-all.conf"
check inetd-plugins "$T/inetd-plugins.expected" "$T/inetd-plugins.conf"
check inetd-exec "$T/inetd-exec.expected" "$T/inetd-exec.conf"
check inetd-stdin "$T/inetd-stdin.expected" - < "$T/inetd-plugins.conf"
check xinetd-all "$T/xinetd-all.expected" "$T/xinetd-all.conf"
check xinetd-dir "$T/xinetd-dir.expected" "$T/xinetd.d"
check xinetd-file "$T/xinetd-file.expected" "$T/xinetd.d/echo"

# ---- Debian's shipped files ----
DEPS=$TOP/build-deps/import   # outside BUILD: make scans BUILD for *.d files
mkdir -p "$DEPS"
cd "$DEPS" || exit 1
fetch() { apt-get download openbsd-inetd inetutils-inetd xinetd > apt.log 2>&1; }
if ! ls openbsd-inetd_*.deb inetutils-inetd_*.deb xinetd_*.deb >/dev/null 2>&1; then
    if ! fetch && [ "$(id -u)" = 0 ]; then
        apt-get update > apt-update.log 2>&1 && fetch
    fi
fi
if ! ls openbsd-inetd_*.deb inetutils-inetd_*.deb xinetd_*.deb >/dev/null 2>&1; then
    echo "skip Debian's inetd.conf and xinetd.d: apt-get download failed (no network or no lists: see $DEPS/apt.log)"
else
    for pkg in openbsd-inetd inetutils-inetd xinetd; do
        rm -rf "$pkg" "$pkg.ctl"
        dpkg-deb -x "$pkg"_*.deb "$pkg" && dpkg-deb -e "$pkg"_*.deb "$pkg.ctl"
    done
    # Neither inetd package ships /etc/inetd.conf: their preinst writes it.
    for pkg in openbsd-inetd inetutils-inetd; do
        sed -n '/cat <<EOF > \/etc\/inetd.conf/,/^EOF/p' "$pkg.ctl/preinst" | sed '1d;$d' > "$pkg.conf"
        # ... with every service commented out; "-on" is the file with them on.
        sed 's/^#\([a-z][a-z]*[[:space:]][[:space:]]*\(stream\|dgram\)[[:space:]]\)/\1/' "$pkg.conf" > "$pkg-on.conf"
    done
    cp -R xinetd xinetd-on
    sed -i 's/disable[[:space:]]*= yes/disable = no/' xinetd-on/etc/xinetd.d/*
    check debian-openbsd-inetd "$TOP/$T/debian-openbsd-inetd.expected" openbsd-inetd.conf
    check debian-openbsd-inetd-on "$TOP/$T/debian-openbsd-inetd-on.expected" openbsd-inetd-on.conf
    check debian-inetutils-inetd "$TOP/$T/debian-inetutils-inetd.expected" inetutils-inetd.conf
    check debian-inetutils-inetd-on "$TOP/$T/debian-inetutils-inetd-on.expected" inetutils-inetd-on.conf
    check debian-xinetd "$TOP/$T/debian-xinetd.expected" -r xinetd xinetd/etc/xinetd.conf
    check debian-xinetd-on "$TOP/$T/debian-xinetd-on.expected" -r xinetd-on xinetd-on/etc/xinetd.conf
    # Until every plugin is built, superd -t on the services it has today.
    missing=
    for p in echo discard daytime chargen time; do
        [ -e "$BUILD/plugins/$p.so" ] || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        re=$(echo $missing | sed 's/ /\\|/g')
        for pkg in openbsd-inetd inetutils-inetd; do
            grep -v "^\($re\)[[:space:]]" "$pkg-on.conf" > "$pkg-have.conf"
            check debian-$pkg-have "" "$pkg-have.conf"
        done
        rm -rf xinetd-have && cp -R xinetd-on xinetd-have
        for p in $missing; do rm -f xinetd-have/etc/xinetd.d/$p xinetd-have/etc/xinetd.d/$p-udp; done
        check debian-xinetd-have "" -r xinetd-have xinetd-have/etc/xinetd.conf
    fi
    check debian-xinetd.d "$TOP/$T/debian-xinetd.d.expected" xinetd/etc/xinetd.d
fi
cd "$TOP" || exit 1

if [ $fails -ne 0 ]; then
    echo "superd-import: $fails check(s) failed"
    exit 1
fi
echo "superd-import: all checks passed"
