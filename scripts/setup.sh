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
# live-sound tests start a private PulseAudio (ALSA reaches it through libasound2-plugins).
dev_pkgs=()
[ "$extra" = "dev" ] && dev_pkgs=(chromium chromium-driver dbus libglib2.0-bin zbar-tools
                                  pulseaudio pulseaudio-utils libasound2-plugins)

need=()
for pkg in libasound2-dev libportaudio2 gcc python3-dev python3-venv "${dev_pkgs[@]}"; do
    case "$pkg" in
        python3-dev) python3 -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' && continue ;;
        python3-venv) python3 -c 'import ensurepip, venv' 2>/dev/null && continue ;;
        gcc) command -v gcc >/dev/null && continue ;;
    esac
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing Debian packages: ${need[*]}" >&2
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[$extra,neural]"  # neural: the default voice
echo "setup: ready (.venv/bin/voiceguide)" >&2
