#!/bin/bash
# Docs, --help and the parser agree for every command, derived from the
# option tables (nothing here is listed by hand):
#   1. the generated parts of docs/*.scd equal what the tables give now;
#   2. every option of every table is in `twkit CMD --help` and in the man
#      page, and --help lists no option that the table lacks;
#   3. every option parses with its example value; a value option without a
#      value, an unknown option and a repeated once-only option are usage
#      errors (exit 2);
#   4. every JSON field `twkit stat --json` prints on a populated fixture is
#      documented in docs/stat-json.md under its full path, and every
#      documented path is printed.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
not_sanitized "a check that the man pages and --help say what the option tables declare (740 runs of --help; the option parser runs under the sanitizers in every *_badinput and *_cli script); make test runs it"
need jq
MKDOC=$OUT/tools/mkdoc

check "generated man page parts match the option tables (make docs)" "$MKDOC" check docs

ncmds=0
while IFS=$'\t' read -r cmd man _; do
    ncmds=$((ncmds + 1))
    read -r -a words <<<"$cmd"
    help=$("$TWKIT" "${words[@]}" --help)
    eq "twkit $cmd --help exit status" "$?" 0
    manfile=docs/$man.1.scd
    # the man page section of this command: its generated block
    block=$(sed -n "/^; BEGIN OPTIONS $cmd (/,/^; END OPTIONS $cmd\$/p" "$manfile")
    [ -n "$block" ] || fail "$manfile has no generated OPTIONS block for '$cmd'"
    table_longs=()
    while IFS=$'\t' read -r lng shrt type example repeat; do
        table_longs+=("--$lng")
        if grep -qE -- "(^|[ ,])--$lng( |$)" <<<"$help"; then ok "$cmd --help lists --$lng"
        else fail "$cmd --help does not list --$lng"; fi
        if grep -qF -- "*--$lng*" <<<"$block"; then ok "$man(1) documents $cmd --$lng"
        else fail "$man(1) does not document $cmd --$lng"; fi
        case $type in
        flag|help) args=("--$lng") ;;
        *) args=("--$lng" "$example") ;;
        esac
        [ "$type" = help ] && continue
        TWKIT_OPT_CHECK=1 "$TWKIT" "${words[@]}" "${args[@]}" >/dev/null 2>&1
        eq "$cmd --$lng ${args[1]:-} parses" "$?" 0
        if [ "$shrt" != - ]; then
            TWKIT_OPT_CHECK=1 "$TWKIT" "${words[@]}" "-$shrt" "${args[@]:1}" >/dev/null 2>&1
            eq "$cmd -$shrt parses" "$?" 0
        fi
        if [ "$type" != flag ]; then
            "$TWKIT" "${words[@]}" "--$lng" >/dev/null 2>&1
            eq "$cmd --$lng without a value is a usage error" "$?" 2
        fi
        if [ "$repeat" = once ]; then
            TWKIT_OPT_CHECK=1 "$TWKIT" "${words[@]}" "${args[@]}" "${args[@]}" >/dev/null 2>&1
            eq "$cmd --$lng twice is a usage error" "$?" 2
        fi
    done < <("$MKDOC" options "$cmd")
    [ ${#table_longs[@]} -gt 0 ] || fail "$cmd has an empty option table"
    # Options block of --help: every --name it shows must be in the table.
    for o in $(sed -n '/^Options:/,/^$/p' <<<"$help" | grep -oE -- '--[a-z0-9-]+' | sort -u); do
        if printf '%s\n' "${table_longs[@]}" | grep -qx -- "$o"; then :
        else fail "$cmd --help lists $o, which its table lacks"; fi
    done
    "$TWKIT" "${words[@]}" --no-such-option >/dev/null 2>&1
    eq "$cmd --no-such-option is a usage error" "$?" 2
done < <("$MKDOC" commands)
[ "$ncmds" -ge 3 ] || fail "mkdoc listed only $ncmds commands"

# JSON fields, path by path: every field `twkit stat --json` prints on a
# populated fixture is documented in docs/stat-json.md under its path (a
# field of a destination row is port_pressure.destinations[].NAME, not just
# NAME somewhere on the page), and every documented path is printed.
docpaths=$(sed -n '/^## NAMESPACE/,/^## /p' docs/stat-json.md |
    grep -oE '^\| `[^`]+`' | sed -E 's/^\| `//; s/`$//' |
    while IFS= read -r p; do eval "printf '%s\n' $(sed -E 's/\[\]/\\[\\]/g' <<<"$p")"; done | sort -u)
[ "$(wc -l <<<"$docpaths")" -gt 50 ] || fail "docs/stat-json.md: too few documented paths: the check would prove nothing"
json=$("$TWKIT" stat --json --fixture tests/fixtures/stat/crafted-nl)
n=$(jq '.namespaces[0].port_pressure.destinations | length' <<<"$json")
[ "$n" -gt 0 ] || fail "fixture crafted-nl has no destination rows: the field check would prove nothing"
outpaths=$(jq -r '.namespaces[0] | paths(type != "object" and type != "array") |
    map(if type == "number" then "[]" else . end) | join(".")' <<<"$json" |
    sed -E 's/\.\[\]/[]/g; s/\[\]$//' | sort -u)
while IFS= read -r k; do
    if grep -qxF -- "$k" <<<"$docpaths"; then ok "JSON field '$k' documented"
    else fail "JSON field '$k' not in docs/stat-json.md"; fi
done <<<"$outpaths"
while IFS= read -r k; do
    grep -qxF -- "$k" <<<"$outpaths" || fail "docs/stat-json.md documents '$k', which stat --json does not print"
done <<<"$docpaths"
finish
