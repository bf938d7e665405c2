#!/usr/bin/env bash
# scalesmall's one test command: runs every suite, in order, and reports.
#
#   ./test.sh                 run everything this machine can run
#   ./test.sh unit doc        run only the named suites
#   SCALESMALL_STRICT=1 ./test.sh   (what .ci/run does) a suite that cannot
#                                   run is a failure, not a SKIP
#
# A suite that cannot run here prints `SKIP <suite>: <why>` and the run goes
# on. Each suite prints its time. Exit status: 0 only if every suite passed
# (and, in strict mode, none was skipped).
set -uo pipefail
cd "$(dirname "$0")"

STRICT="${SCALESMALL_STRICT:-0}"
failed=()
skipped=()
summary=()

skip() { # suite, reason
    echo "SKIP $1: $2"
    skipped+=("$1")
    summary+=("$(printf '%-12s SKIP  %s' "$1" "$2")")
}

run_suite() { # name, function
    local name=$1 fn=$2 t0 rc
    t0=$(date +%s)
    echo
    echo "=== suite $name"
    "$fn"
    rc=$?
    local dt=$(( $(date +%s) - t0 ))
    if [ "$rc" -eq 0 ]; then
        summary+=("$(printf '%-12s ok    %4ss' "$name" "$dt")")
    elif [ "$rc" -eq 77 ]; then
        : # the suite called skip itself
    else
        failed+=("$name")
        summary+=("$(printf '%-12s FAIL  %4ss' "$name" "$dt")")
    fi
}

# --- suites ---------------------------------------------------------------

# Unit, property, oracle, history and integration tests (lib, bins, tests/),
# and those of the workspace's xtask (completions and man pages generated).
suite_unit() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast
    else
        echo "(cargo-nextest not found; using cargo test)"
        cargo test --workspace --no-fail-fast --lib --bins --tests
    fi
}

# Doctests (nextest does not run them).
suite_doc() {
    cargo test --doc
}

# Each criterion benchmark once, as a test: they build and run.
suite_bench() {
    cargo test --benches
}

# The library's unit tests and the model/wire test binaries under qemu-user
# for both board targets, then deploy/build-arm, whose two static artifacts
# must run --version and --help under qemu and stay under the 3,000,000-byte
# size limit (build-arm fails otherwise; a tiny --size-limit must fail too). Linker and runner come from
# .cargo/config.toml; see docs/deploy-arm.md.
suite_arm() {
    local targets=(aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
    local qemus=(qemu-aarch64-static qemu-arm-static)
    local missing=() tool t i f t0 rc=0 installed=""
    # aarch64-linux-gnu-gcc: cc-rs compiles criterion's small C file
    # (dev-dependency `alloca`) for aarch64 musl with it (.cargo/config.toml).
    for tool in "${qemus[@]}" arm-linux-gnueabihf-gcc aarch64-linux-gnu-gcc file; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ -e /usr/arm-linux-gnueabihf/lib/libc.a ] || missing+=("armhf libc.a")
    [ -e /usr/aarch64-linux-gnu/include/stdint.h ] || missing+=("arm64 libc headers")
    if command -v rustup >/dev/null 2>&1; then
        installed=$(rustup target list --installed 2>/dev/null)
        for t in "${targets[@]}"; do
            grep -qx "$t" <<<"$installed" || missing+=("rustup target $t")
        done
    else
        missing+=("rustup")
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        skip arm "missing ${missing[*]}; install with: apt-get update && apt-get install -y qemu-user-static gcc-arm-linux-gnueabihf libc6-dev-armhf-cross gcc-aarch64-linux-gnu libc6-dev-arm64-cross file && rustup target add ${targets[*]} (or .ci/run)"
        return 77
    fi

    # --lib plus every model/wire test and the allocation test that exists.
    local sel=(--lib)
    for f in tests/model_*.rs tests/wire_*.rs tests/alloc_free.rs; do
        [ -f "$f" ] || continue
        f=${f##*/}
        sel+=(--test "${f%.rs}")
    done

    local runner=(cargo nextest run --no-fail-fast)
    if ! cargo nextest --version >/dev/null 2>&1; then
        echo "(cargo-nextest not found; using cargo test)"
        runner=(cargo test --no-fail-fast)
    fi
    for t in "${targets[@]}"; do
        t0=$(date +%s)
        echo "--- arm: ${runner[*]} --target $t ${sel[*]} (PROPTEST_CASES=32)"
        if ! PROPTEST_CASES=32 "${runner[@]}" --target "$t" "${sel[@]}"; then
            echo "arm: tests FAILED for $t"
            rc=1
        fi
        echo "--- arm: tests for $t took $(( $(date +%s) - t0 ))s"
    done

    t0=$(date +%s)
    echo "--- arm: deploy/build-arm"
    if ! deploy/build-arm; then
        echo "arm: deploy/build-arm FAILED"
        return 1
    fi
    echo "--- arm: deploy/build-arm took $(( $(date +%s) - t0 ))s"

    local version out arches=(aarch64 armv7)
    version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n1)
    for i in "${!arches[@]}"; do
        out="dist/scalesmall-$version-${arches[$i]}"
        if [ ! -x "$out" ]; then
            echo "arm: $out missing after deploy/build-arm"
            rc=1
            continue
        fi
        if ! "${qemus[$i]}" "$out" --version | grep -qF "$version"; then
            echo "arm: ${qemus[$i]} $out --version did not print $version"
            rc=1
        fi
        if ! "${qemus[$i]}" "$out" --help | grep -q 'Usage:'; then
            echo "arm: ${qemus[$i]} $out --help did not print a usage"
            rc=1
        fi
        echo "arm: $out --version/--help ok under ${qemus[$i]}"
    done

    # The size limit bites: below the binaries' size, deploy/build-arm (a
    # no-op rebuild by now, a few seconds) must fail and name each file with
    # its size.
    local lim_dir lim_out
    lim_dir=$(mktemp -d)
    if lim_out=$(deploy/build-arm --out-dir "$lim_dir" --size-limit 1000 2>&1); then
        echo "arm: deploy/build-arm --size-limit 1000 did not fail"
        rc=1
    elif ! grep -q "error: $lim_dir/scalesmall-$version-armv7 is [0-9]* bytes, at or above the size limit of 1000 bytes" <<<"$lim_out" ||
        ! grep -q "error: $lim_dir/scalesmall-$version-aarch64 is [0-9]* bytes" <<<"$lim_out"; then
        echo "arm: deploy/build-arm --size-limit 1000 failed without naming both binaries and their sizes:"
        tail -n 5 <<<"$lim_out"
        rc=1
    else
        echo "arm: deploy/build-arm --size-limit 1000 fails and names both binaries"
    fi
    rm -rf "$lim_dir"
    return "$rc"
}

# The status page in headless Chromium (tests/status_page.rs): three real
# nodes, the drawn key space checked against lookup, a killed board turning
# suspect, a screenshot in target/tmp/status_page.png. Debian's chromium and
# chromium-driver at /usr/bin (or $SCALESMALL_CHROMIUM /
# $SCALESMALL_CHROMEDRIVER).
suite_browser() {
    local chromium=${SCALESMALL_CHROMIUM:-/usr/bin/chromium}
    local driver=${SCALESMALL_CHROMEDRIVER:-/usr/bin/chromedriver}
    if [ ! -x "$chromium" ] || [ ! -x "$driver" ]; then
        skip browser "apt-get install chromium chromium-driver"
        return 77
    fi
    # (The test itself would print SKIP and pass without a browser; here
    # the browser is required.)
    SCALESMALL_REQUIRE_BROWSER=1 cargo test --test status_page -- --nocapture
}


# The Ansible role and playbooks (ansible/, docs/deploy.md): ansible-lint
# (production profile, offline), --syntax-check of every playbook with the
# example inventory, the role's systemd unit rendered with the defaults must
# equal deploy/scalesmall.service, and systemd-analyze verify on it (where
# systemd-analyze exists; it checks ExecStart, so a stub binary stands in)
# and `systemd-analyze security --offline=true` at most 1.9 for a 64-bit
# and a 32-bit ARM board.
# ansible/tests/install-share.yml: from xtask's output into a temporary
# prefix, twice, and from a missing directory.
suite_ansible_share() { # ansible.cfg, temporary dir
    local cfg=$1 tmp=$2 f
    cargo run --quiet -p xtask -- generate --out "$tmp/share" >/dev/null || return 1
    for run in 1 2; do
        ANSIBLE_CONFIG="$cfg" ansible-playbook ansible/tests/install-share.yml \
            -e "share_dir=$tmp/share" -e "share_prefix=$tmp/prefix" >"$tmp/share$run.log" 2>&1 || {
            cat "$tmp/share$run.log"
            return 1
        }
    done
    grep -q 'changed=0 ' "$tmp/share2.log" || { cat "$tmp/share2.log"; echo "the second run changed something"; return 1; }
    for f in bash-completion/completions/scalesmall zsh/site-functions/_scalesmall \
        fish/vendor_completions.d/scalesmall.fish man/man1/scalesmall.1 man/man1/scalesmall-run.1; do
        cmp -s "$tmp/prefix/$f" "$tmp/share/$( case $f in
            bash-*) echo completions/scalesmall.bash ;; zsh/*) echo completions/_scalesmall ;;
            fish/*) echo completions/scalesmall.fish ;; *) echo "$f" ;; esac)" || { echo "$f not installed"; return 1; }
    done
    ANSIBLE_CONFIG="$cfg" ansible-playbook ansible/tests/install-share.yml \
        -e "share_dir=$tmp/nowhere" -e "share_prefix=$tmp/prefix2" >"$tmp/share3.log" 2>&1 &&
        grep -q 'cargo run -p xtask -- generate' "$tmp/share3.log" && [ ! -e "$tmp/prefix2" ] ||
        { cat "$tmp/share3.log"; echo "a missing share dir is not skipped with a note"; return 1; }
}

suite_ansible() {
    local tool missing=() rc=0 p tmp
    for tool in ansible-playbook ansible-lint; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        skip ansible "missing ${missing[*]}; install with: pip install ansible-core==2.19.14 ansible-lint==26.10.1 (or .ci/run)"
        return 77
    fi
    local cfg="$PWD/ansible/ansible.cfg"

    echo "--- ansible: ansible-lint (ansible/.ansible-lint)"
    (cd ansible && ANSIBLE_CONFIG="$cfg" ansible-lint --nocolor) || {
        echo "ansible: ansible-lint FAILED"
        rc=1
    }

    for p in ansible/site.yml ansible/upgrade.yml ansible/remove.yml ansible/rotate-key.yml ansible/tests/render-unit.yml ansible/tests/install-share.yml; do
        if ANSIBLE_CONFIG="$cfg" ansible-playbook -i ansible/inventory.example.yml --syntax-check "$p" >/dev/null; then
            echo "ansible: --syntax-check $p ok"
        else
            echo "ansible: --syntax-check $p FAILED"
            rc=1
        fi
    done

    tmp=$(mktemp -d) || return 1
    if ANSIBLE_CONFIG="$cfg" ansible-playbook ansible/tests/render-unit.yml \
        -e "unit_out=$tmp/default.service" >"$tmp/render.log" 2>&1 &&
        diff -u deploy/scalesmall.service "$tmp/default.service"; then
        echo "ansible: the role's unit with its defaults equals deploy/scalesmall.service"
    else
        cat "$tmp/render.log"
        echo "ansible: deploy/scalesmall.service differs from the role's template (render it again: ansible-playbook ansible/tests/render-unit.yml -e unit_out=\$PWD/deploy/scalesmall.service)"
        rc=1
    fi
    # The completions and man pages of a binary install (tasks/share.yml).
    if [ "$(id -u)" = 0 ]; then
        if suite_ansible_share "$cfg" "$tmp"; then
            echo "ansible: share.yml installs the completions and man pages, again changes nothing, skips a missing dir"
        else
            echo "ansible: share.yml FAILED"
            rc=1
        fi
    else
        echo "ansible: share.yml not run (needs root: its files are owned by root)"
    fi
    if command -v systemd-analyze >/dev/null 2>&1; then
        mkdir -p "$tmp/opt/bin"
        printf '#!/bin/sh\n' >"$tmp/opt/bin/scalesmall"
        chmod 755 "$tmp/opt/bin/scalesmall"
        for p in "" /bin/sh; do
            if ANSIBLE_CONFIG="$cfg" ansible-playbook ansible/tests/render-unit.yml \
                -e "unit_out=$tmp/scalesmall.service" -e "scalesmall_prefix=$tmp/opt" \
                -e "scalesmall_exec_prefix='$p'" >"$tmp/render.log" 2>&1 &&
                systemd-analyze verify "$tmp/scalesmall.service"; then
                echo "ansible: systemd-analyze verify ok (exec prefix '${p}')"
            else
                cat "$tmp/render.log"
                echo "ansible: systemd-analyze verify FAILED (exec prefix '${p}')"
                rc=1
            fi
        done
        # The hardening must not slip: exposure at most 1.9 ("19" of 100),
        # for a 64-bit board and a 32-bit ARM one (SystemCallArchitectures).
        for p in aarch64 armv7; do
            local exposure
            if ANSIBLE_CONFIG="$cfg" ansible-playbook ansible/tests/render-unit.yml \
                -e "unit_out=$tmp/scalesmall.service" -e "scalesmall_prefix=$tmp/opt" \
                -e "__scalesmall_board_arch=$p" >"$tmp/render.log" 2>&1 &&
                exposure=$(systemd-analyze security --offline=true --threshold=19 "$tmp/scalesmall.service" | tail -n1); then
                echo "ansible: systemd-analyze security ($p): ${exposure#→ }"
            else
                cat "$tmp/render.log"
                echo "ansible: systemd-analyze security FAILED ($p): exposure above 1.9: ${exposure:-}"
                rc=1
            fi
        done
    else
        echo "ansible: systemd-analyze not found: the unit was rendered and compared, not verified"
    fi
    rm -rf "$tmp"
    return "$rc"
}

# The simulated board cluster (tests/cluster/, docs/cluster.md): up (six
# boards in three subnets: network, mount and UTS namespaces, own sshd),
# run (site.yml over SSH with the real role, then the scenarios: converge,
# second run changed=0, long partition (late and early), power cut,
# partition, lossy network, rolling upgrade, key rotation; the ARM
# binaries under qemu-user), down. Needs
# root. Fails on a scenario that fails, a playbook error, and on namespaces
# left behind. SCALESMALL_CLUSTER_BOARDS (default 4 here, to keep the suite
# within CI's budget: upgrade.yml runs the role board by board, about 50 s
# each on a busy 2-core machine; rotate-key.yml restarts nothing;
# tests/cluster/up alone defaults to 6), SCALESMALL_CLUSTER_ONLY
# (comma-separated scenarios) and SCALESMALL_CLUSTER_TIMEOUT (seconds for
# tests/cluster/run, default 1500) change it.
suite_cluster() {
    local tool missing=() rc=0 left
    if [ "$(id -u)" != 0 ]; then
        skip cluster "needs root (network and mount namespaces): sudo ./test.sh cluster"
        return 77
    fi
    if ! unshare --net --mount true 2>/dev/null; then
        skip cluster "cannot create network/mount namespaces here (unshare --net --mount failed: a container without CAP_SYS_ADMIN?)"
        return 77
    fi
    for tool in ip unshare nsenter nft /usr/sbin/sshd ssh ssh-keygen start-stop-daemon /usr/bin/python3 \
        python3 qemu-aarch64-static qemu-arm-static ansible-playbook ansible-inventory; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        skip cluster "missing ${missing[*]}; install with: apt-get install -y iproute2 nftables openssh-server openssh-client qemu-user-static python3 && pip install ansible-core==2.19.14 (or .ci/run)"
        return 77
    fi
    # This run's cluster has a name of its own (sst<PID of test.sh> unless
    # SCALESMALL_CLUSTER_PREFIX says otherwise) and records test.sh as its
    # owner, so a cluster by hand (ssc) or a concurrent run never collides
    # with it, and what a killed run left behind is removed here first.
    export SCALESMALL_CLUSTER_PREFIX="${SCALESMALL_CLUSTER_PREFIX:-sst$$}"
    export SCALESMALL_CLUSTER_OWNER=$$
    export SCALESMALL_CLUSTER_DIR="/tmp/scalesmall-cluster-$SCALESMALL_CLUSTER_PREFIX"
    timeout 300 tests/cluster/down --stale || {
        echo "cluster: could not remove the clusters earlier runs left behind (tests/cluster/down --stale)"
        return 1
    }
    if ip netns list | grep -q "^$SCALESMALL_CLUSTER_PREFIX-"; then
        echo "cluster: a cluster named $SCALESMALL_CLUSTER_PREFIX exists and is in use; pick another SCALESMALL_CLUSTER_PREFIX"
        return 1
    fi
    echo "--- cluster: deploy/build-arm (the binaries the boards get)"
    deploy/build-arm >/dev/null || {
        echo "cluster: deploy/build-arm FAILED"
        return 1
    }
    mkdir -p target
    local only=()
    [ -z "${SCALESMALL_CLUSTER_ONLY:-}" ] || only=(--only "$SCALESMALL_CLUSTER_ONLY")
    if timeout 120 tests/cluster/up --boards "${SCALESMALL_CLUSTER_BOARDS:-4}"; then
        # SIGTERM first: run then removes its faults (router cut, loss) and
        # kills what it started.
        timeout -k 30 "${SCALESMALL_CLUSTER_TIMEOUT:-1500}" tests/cluster/run "${only[@]}" \
            --results target/cluster-results.md || rc=1
    else
        echo "cluster: tests/cluster/up FAILED"
        rc=1
    fi
    timeout 120 tests/cluster/down || rc=1
    left=$(ip netns list | grep "^$SCALESMALL_CLUSTER_PREFIX-" || true)
    if [ -n "$left" ]; then
        echo "cluster: namespaces left behind: $left"
        rc=1
    fi
    return "$rc"
}

# The release (deploy/release, docs/operations.md): the packages and
# tarballs of all four boards, SHA256SUMS and its gpg signature (a throwaway
# key), and the amd64 package installed, run, upgraded and purged in a
# throwaway root (tests/package/check). Runs after arm and cluster so that
# the ARM binaries are theirs: profile SCALESMALL_PACKAGE_PROFILE (default
# cluster-upgrade, which the cluster suite's upgrade scenario built; only
# x86_64 and armv6 are new). Needs root.
suite_package() {
    local tool missing=() rc=0 out g fpr t0
    if [ "$(id -u)" != 0 ]; then
        skip package "needs root (a private mount namespace and chroot): sudo ./test.sh package"
        return 77
    fi
    for tool in dpkg-deb apt-get unshare chroot setpriv pgrep gpg readelf file systemd-analyze \
        qemu-aarch64-static qemu-arm-static python3 rustup; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    rustup run "${SCALESMALL_NIGHTLY:-nightly}" rustc --version >/dev/null 2>&1 || missing+=("the nightly toolchain")
    cargo zigbuild --help >/dev/null 2>&1 || missing+=(cargo-zigbuild)
    command -v zig >/dev/null 2>&1 || python3 -m ziglang version >/dev/null 2>&1 || missing+=("zig (pip: ziglang)")
    if [ ${#missing[@]} -gt 0 ]; then
        skip package "missing ${missing[*]}; install with: apt-get install -y dpkg apt util-linux procps gnupg binutils file systemd qemu-user-static && rustup toolchain install nightly --profile minimal --component rust-src && pip install ziglang && cargo install --locked cargo-zigbuild (or .ci/run)"
        return 77
    fi
    out="$PWD/target/package-release"
    g=$(mktemp -d) || return 1
    # A throwaway signing key: the release is signed, the checks verify it.
    export GNUPGHOME="$g"
    gpg --batch --quiet --passphrase '' --quick-gen-key 'scalesmall package test <pkgtest@scalesmall.invalid>' \
        ed25519 sign never 2>/dev/null || rc=1
    fpr=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
    t0=$(date +%s)
    if [ "$rc" -eq 0 ] && deploy/release --profile "${SCALESMALL_PACKAGE_PROFILE:-cluster-upgrade}" \
        --out-dir "$out" --gpg-key "$fpr"; then
        echo "--- package: deploy/release took $(( $(date +%s) - t0 ))s"
        tests/package/check "$out" || rc=1
    else
        echo "package: deploy/release FAILED"
        rc=1
    fi
    gpgconf --homedir "$g" --kill gpg-agent 2>/dev/null
    unset GNUPGHOME
    rm -rf "$g"
    return "$rc"
}

# The alert rules and the dashboard (deploy/prometheus, deploy/grafana):
# `promtool check rules`, the rules' own cases (`promtool test rules`), and
# tests/metrics_contract.rs with promtool required: every metric the rules
# and the dashboard query exists on a live node and passes `promtool check
# metrics`. Debian's `prometheus` package brings promtool.
suite_alerts() {
    if ! command -v promtool >/dev/null 2>&1; then
        skip alerts "apt-get install prometheus (for promtool)"
        return 77
    fi
    promtool check rules deploy/prometheus/alerts.yml || return 1
    (cd deploy/prometheus && promtool test rules alerts_test.yml) || return 1
    SCALESMALL_REQUIRE_PROMTOOL=1 cargo nextest run --test metrics_contract
}

ALL_SUITES=(unit doc bench arm ansible browser alerts cluster package)

# --- main -----------------------------------------------------------------

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=("${ALL_SUITES[@]}")
for s in "${suites[@]}"; do
    if declare -F "suite_$s" >/dev/null; then
        run_suite "$s" "suite_$s"
    else
        echo "unknown suite '$s'; suites: ${ALL_SUITES[*]}" >&2
        exit 2
    fi
done

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
if [ ${#skipped[@]} -gt 0 ] && [ "$STRICT" = 1 ]; then
    echo "FAILED (strict mode): skipped ${skipped[*]}"
    exit 1
fi
echo "all suites passed"
