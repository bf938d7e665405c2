#!/bin/sh
# A stand-in for the scalesmall binary, for tests/cluster/ansible-dev-check
# only: it speaks just enough of docs/node.md for the Ansible role (run,
# status --json, leave, config check, keys, --version). @VERSION@ and @ARCH@ are
# filled in by the check. `run` keeps its PID in <socket>.pid, the user it
# runs as in <socket>.user, and logs each SIGHUP to <socket>.log.
VERSION=@VERSION@
ARCH=@ARCH@

cmd=${1:-}
[ $# -gt 0 ] && shift
json=0
socket=/run/scalesmall/control.sock
config=/etc/scalesmall/scalesmall.toml
sub=
while [ $# -gt 0 ]; do
    case $1 in
        --json) json=1 ;;
        --socket) socket=$2 && shift ;;
        --config) config=$2 && shift ;;
        *) sub="$sub $1" ;;
    esac
    shift
done

alive() {
    [ -s "$socket.pid" ] && kill -0 "$(cat "$socket.pid")" 2>/dev/null && return 0
    echo "scalesmall: daemon unreachable at $socket" >&2
    exit 3
}

case $cmd in
    --version) echo "scalesmall $VERSION" ;;
    run)
        grep -q '^\[node\]' "$config" || {
            echo "config $config: cannot read it" >&2
            exit 2
        }
        key=$(sed -n 's/^key_file = "\(.*\)"$/\1/p' "$config")
        if [ -n "$key" ] && [ ! -r "$key" ]; then
            echo "cannot read the key file $key" >&2
            exit 1
        fi
        socket=$(sed -n 's/^socket = "\(.*\)"$/\1/p' "$config")
        echo $$ >"$socket.pid"
        id -un >"$socket.user"
        trap 'rm -f "$socket.pid"; exit 0' TERM INT
        trap 'echo hup >>"$socket.log"' HUP
        echo "stub scalesmall $VERSION ($ARCH) pid $$ as $(id -un)"
        while :; do
            sleep 1 &
            wait $!
        done
        ;;
    status)
        alive
        if [ "$json" = 1 ]; then
            printf '{"id":"5eed5eed5eed5eed","version":"%s","arch":"%s","incarnation":1,"clock":1,"listen":"0.0.0.0:29999","data_dir":"/var/lib/scalesmall","groups":["demo"],"my_groups":["demo"],"peers":1,"converged":true,"insecure":false}\n' "$VERSION" "$ARCH"
        else
            echo "stub scalesmall $VERSION ($ARCH): converged"
        fi
        ;;
    join | leave)
        alive
        echo changed
        ;;
    keys)
        # A keyring of fake ids (sha256 of the key, 8 hex digits) in
        # <socket>.keys: "source primary accepted..."; the one peer it
        # reports sends with our primary, as the real peers would once
        # they all switched.
        alive
        kid() { printf '0x%s' "$(tr -d '\n' | sha256sum | cut -c1-8)"; }
        keyf=$(sed -n 's/^key_file = "\(.*\)"$/\1/p' "$config")
        [ -s "$socket.keys" ] || echo "config $(kid <"$keyf")" >"$socket.keys"
        old=$(cat "$socket.keys")
        set -- $old
        source=$1 primary=$2
        shift 2
        accepted="$primary $*"
        case $sub in
            " install -")
                installed=$(kid)
                case " $accepted " in *" $installed "*) ;; *) accepted="$accepted $installed" ;; esac
                source=keyring
                ;;
            " use "*)
                want=${sub# use }
                case " $accepted " in *" $want "*) ;; *)
                    echo "refused: no key with id $want is installed" >&2
                    exit 4
                    ;;
                esac
                [ "$want" = "$primary" ] || { primary=$want source=keyring; }
                ;;
            " remove "*)
                gone=${sub# remove }
                [ "$gone" != "$primary" ] || {
                    echo "refused: key $gone is the one this board sends with" >&2
                    exit 4
                }
                accepted=$(for a in $accepted; do [ "$a" = "$gone" ] || printf '%s ' "$a"; done)
                ;;
            " reset")
                [ "$source" = config ] || { primary=$(kid <"$keyf") accepted=$primary source=config; }
                ;;
            " list") ;;
            *)
                echo "stub scalesmall: unknown keys command '$sub'" >&2
                exit 2
                ;;
        esac
        rest=$(for a in $accepted; do [ "$a" = "$primary" ] || printf ' %s' "$a"; done)
        echo "$source $primary$rest" >"$socket.keys"
        changed=false
        [ "$sub" = " list" ] || [ "$(cat "$socket.keys")" = "$old" ] || changed=true
        list=$(for a in $primary$rest; do printf '"%s",' "$a"; done)
        printf '{"changed":%s,"source":"%s","primary":"%s","accepted":[%s],%s"peers":[{"id":"5eed5eed5eed5eee","state":"alive","key_id":"%s","key_age_ms":0}]}\n' \
            "$changed" "$source" "$primary" "${list%,}" "${installed:+\"installed\":\"$installed\",}" "$primary"
        ;;
    config)
        if [ "$sub" != " check" ] || ! grep -q '^\[node\]' "$config" || ! grep -q '^\[cluster\]' "$config"; then
            echo "config $config: not a scalesmall config" >&2
            exit 2
        fi
        echo "config $config: ok"
        ;;
    *)
        echo "stub scalesmall: unknown command '$cmd'" >&2
        exit 2
        ;;
esac
