#!/bin/bash
# make install into a DESTDIR gives a working command, man pages, headers,
# static and shared libraries and a pkg-config file whose paths follow
# PREFIX: a program built with `pkg-config --cflags --libs twkit` against it
# (shared, then static) links and runs.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need pkg-config cc
D=$(mktemp -d)
# under make check ($TW_SANITIZED) the build in $OUT is ASan/UBSan-instrumented:
# keep make's flags the same, and build the test program the same way
mk=(make -s OUT="$OUT"); san=""
if [ -n "${TW_SANITIZED:-}" ]; then mk+=(SAN=address,undefined); san="-fsanitize=address,undefined"; fi
trap 'rm -rf "$D"' EXIT
"${mk[@]}" install DESTDIR="$D/root" PREFIX=/opt/twkit >"$D/log" 2>&1
rc=$?; eq "make install exit" $rc 0; [ $rc -eq 0 ] || tail -20 "$D/log"
for f in bin/twkit lib/libtwkit.a lib/libtwkit.so lib/pkgconfig/twkit.pc include/twkit/twkit.h \
         include/twkit/pool.h share/man/man1/twkit-stat.1 share/man/man3/tw_pool.3; do
    check "installed $f" test -e "$D/root/opt/twkit/$f"
done
pc="$D/root/opt/twkit/lib/pkgconfig/twkit.pc"
eq "pkg-config prefix follows PREFIX" "$(sed -n 's/^prefix=//p' "$pc")" /opt/twkit
cat > "$D/t.c" <<'C'
#include <stdio.h>
#include <twkit/twkit.h>
int main(void)
{
    struct tw_query q;
    tw_query_init(&q);
    unsigned m = 0;
    if (tw_state_parse("time-wait", &m) || m != TW_STATE_BIT(TW_TIME_WAIT))
        return 1;
    printf("%s %s\n", tw_state_name(TW_TIME_WAIT), tw_err_name(TW_EMALFORMED));
    return 0;
}
C
# build against an install at its real prefix (no DESTDIR), found through pkg-config
"${mk[@]}" install PREFIX="$D/prefix" >"$D/log" 2>&1
eq "make install PREFIX exit" $? 0
export PKG_CONFIG_PATH="$D/prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs twkit)
cc $san -o "$D/t" "$D/t.c" $flags >"$D/log" 2>&1; eq "build against the shared library" $? 0
eq "runs (shared)" "$(LD_LIBRARY_PATH="$D/prefix/lib" "$D/t")" "TIME_WAIT TW_EMALFORMED"
check "linked to the shared library" bash -c "LD_LIBRARY_PATH='$D/prefix/lib' ldd '$D/t' | grep -q libtwkit.so.0"
cc $san -o "$D/ts" "$D/t.c" $(pkg-config --cflags twkit) "$D/prefix/lib/libtwkit.a" \
    $(pkg-config --static --libs-only-l twkit | sed 's/-ltwkit//') >"$D/log" 2>&1
eq "build against the static library" $? 0
eq "runs (static)" "$("$D/ts")" "TIME_WAIT TW_EMALFORMED"
eq "installed twkit runs" "$("$D/root/opt/twkit/bin/twkit" --version | cut -d' ' -f1)" twkit
finish
